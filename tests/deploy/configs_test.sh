#!/usr/bin/env bash
# The config the chart renders for each role is one fanoutd accepts
# (`fanoutd --check-config`), with the default values and every values file
# in helm/fanout/ci/: the chart cannot drift from the binary.
#
#   configs_test.sh FANOUTD backends   users, orders, recommendations, lab (where enabled)
#   configs_test.sh FANOUTD gateway    the gateway's
source "$(dirname "$0")/lib.sh"
fanoutd=$(realpath "$1") mode=$2
[ "$mode" = gateway ] && require_gateway "$fanoutd"

# A values file with tls.enabled renders paths under the Secret's mount,
# /etc/fanout-tls: here a scratch PKI made with openssl stands in for it, so
# --check-config loads real certificate files.
tls_dir=$scratch/fanout-tls
make_tls_dir() {
  [ -f "$tls_dir/tls.crt" ] && return
  mkdir -p "$tls_dir" && (cd "$tls_dir" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj /CN=chart-test-ca -keyout ca.key -out ca.crt &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=fanout \
      -keyout tls.key -out tls.csr &&
    openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -days 1 -out tls.crt) \
    > "$scratch/openssl.log" 2>&1 || fail "openssl: $(cat "$scratch/openssl.log")"
}

# The gateway's auth files (/etc/fanout-auth, roles.gateway.auth), which
# --check-config reads too: the chart's own Secret's content when the render
# has it, else (a Secret of the user's) stand-ins: the JWKS of
# ci/auth-values.yaml, an API keys file.
auth_files() {  # rendered.yaml dir
  "$python" - "$1" "$2" <<'PY'
import base64, os, sys, yaml
rendered, out = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
files = {"jwks.json": yaml.safe_load(open("helm/fanout/ci/auth-values.yaml"))
         ["roles"]["gateway"]["auth"]["files"]["jwks.json"],
         "api-keys": "stand-in " + "0" * 64 + "\n"}
for d in docs:
    if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-gateway-auth"):
        files = {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
os.makedirs(out, exist_ok=True)
gateway = next(yaml.safe_load(d["data"]["node.yaml"]) for d in docs if d["kind"] == "ConfigMap"
               and d["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway")
auth = gateway["gateway"]["auth"]
for path, stand_in in ((auth.get("jwt", {}).get("jwks_file"), "jwks.json"),
                       (auth.get("api_keys", {}).get("file"), "api-keys")):
    if path:
        name = os.path.basename(path)
        open(os.path.join(out, name), "w").write(files.get(name, files[stand_in]))
PY
}

checked=0
for values in "" helm/fanout/ci/*.yaml; do
  name=${values:-default values}
  out=$scratch/$(basename "${values:-default}" .yaml)
  helm template fanout helm/fanout ${values:+-f "$values"} > "$out.yaml"
  roles=$("$python" deploy/chart_configs.py "$out.yaml" "$out")
  for role in $roles; do
    if [ "$mode" = gateway ] && [ "$role" != gateway ]; then continue; fi
    if [ "$mode" = backends ] && [ "$role" = gateway ]; then continue; fi
    if grep -q /etc/fanout-tls "$out/$role.yaml"; then
      make_tls_dir
      sed -i "s#/etc/fanout-tls#$tls_dir#g" "$out/$role.yaml"
    fi
    if grep -q /etc/fanout-auth "$out/$role.yaml"; then
      auth_files "$out.yaml" "$out/fanout-auth" || fail "$name: the gateway's auth files"
      sed -i "s#/etc/fanout-auth#$out/fanout-auth#g" "$out/$role.yaml"
    fi
    # The PostgreSQL store's DSN comes from a Secret, as FANOUT_POSTGRES_DSN.
    dsn=()
    if grep -q '^  postgres:' "$out/$role.yaml"; then
      grep -q FANOUT_POSTGRES_DSN "$out.yaml" || fail "$name: no FANOUT_POSTGRES_DSN for $role"
      dsn=(env "FANOUT_POSTGRES_DSN=host=db.example dbname=fanout")
    fi
    result=$("${dsn[@]}" "$fanoutd" --check-config "$out/$role.yaml" 2>&1) ||
      fail "$name: fanoutd rejects the $role config the chart renders: $result"$'\n'"$(cat "$out/$role.yaml")"
    checked=$((checked + 1))
  done
  ok "$name: $roles"
done
[ "$checked" -gt 0 ] || fail "no $mode config was checked"
ok "fanoutd --check-config accepts all $checked rendered $mode configs"
