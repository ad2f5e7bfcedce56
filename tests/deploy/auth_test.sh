#!/usr/bin/env bash
# The gateway's credentials as the chart delivers them: a Secret the chart
# renders from roles.gateway.auth (helm/fanout/ci/auth-values.yaml, with a
# JWKS and API keys made here), laid out as the kubelet mounts it (files are
# links into ..data), the gateway's config pointing into it. users and the
# gateway run from the rendered configs; every route requires a caller:
# none, a wrong key or a token from an unknown key is 401, a good API key or
# token reaches users. Then the Secret is updated in place, as Kubernetes
# does (..data swapped): the gateway takes the new JWKS without a restart.
#
#   auth_test.sh FANOUTD
source "$(dirname "$0")/lib.sh"
source deploy/grpc_curl.sh
fanoutd=$(realpath "$1")
dir=$scratch/auth

# Two RSA signing keys (the JWKS holds a's, later b's), and an API key.
mkdir -p "$dir/keys" "$dir/logs"
for kid in a b; do
  openssl genrsa -out "$dir/keys/$kid.pem" 2048 2>/dev/null || fail "openssl genrsa"
done
api_key="ci-$RANDOM$RANDOM$RANDOM"
jwt() {  # kid: a token signed by that key, for the chart's issuer and audience
  "$python" - "$dir/keys/$1.pem" "$1" <<'PY'
import base64, json, subprocess, sys, time
key, kid = sys.argv[1:]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": "https://issuer.example.com", "aud": "fanout", "sub": "ci",
                       "exp": int(time.time()) + 600}).encode())
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=f"{head}.{body}".encode(),
                     capture_output=True, check=True).stdout
print(f"{head}.{body}.{b64(sig)}")
PY
}
jwks() {  # kid: a JWKS with that key's public half
  "$python" - "$dir/keys/$1.pem" "$1" <<'PY'
import base64, json, subprocess, sys
key, kid = sys.argv[1:]
modulus = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], capture_output=True,
                         check=True, text=True).stdout.strip().split("=", 1)[1]
n = base64.urlsafe_b64encode(bytes.fromhex(modulus)).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"}]}))
PY
}
jwks a > "$dir/jwks-a.json" && jwks b > "$dir/jwks-b.json" || fail "JWKS"
printf 'ci %s users:read\n' "$(printf %s "$api_key" | sha256sum | cut -d' ' -f1)" > "$dir/api-keys"

helm template fanout helm/fanout -f helm/fanout/ci/auth-values.yaml \
  --set-file 'roles.gateway.auth.files.jwks\.json'="$dir/jwks-a.json" \
  --set-file roles.gateway.auth.files.api-keys="$dir/api-keys" > "$dir/rendered.yaml" ||
  fail "helm template with the auth values"
"$python" deploy/chart_configs.py "$dir/rendered.yaml" "$dir/config" --local --base-port auto \
  --rest-port auto --data-dir "$dir/data" >/dev/null || fail "chart_configs"
source "$dir/config/ports.env"
mount=$dir/config/mounts/gateway/auth
grep -q "jwks_file: $mount/jwks.json" "$dir/config/gateway.yaml" ||
  fail "the gateway's config does not read the JWKS from the Secret's mount: $(cat "$dir/config/gateway.yaml")"
[ "$(readlink "$mount/jwks.json")" = ..data/jwks.json ] || fail "$mount is not laid out as a Secret volume"
cmp -s "$mount/api-keys" "$dir/api-keys" || fail "the API keys in the mount are not the ones given"
ok "the chart's Secret, mounted as the kubelet does, holds the JWKS and API keys the gateway's config names"

declare -A pid
cleanup_hooks=('for p in "${pid[@]}"; do kill -KILL "$p" 2>/dev/null; done; wait' "${cleanup_hooks[@]}")
for role in users gateway; do
  setsid "$fanoutd" --config "$dir/config/$role.yaml" > "$dir/logs/$role.log" 2>&1 < /dev/null &
  pid[$role]=$!
done
for role in users gateway; do
  var=${role^^}_GRPC
  for _ in $(seq 1 150); do
    grpc_health "${!var}" && break
    kill -0 "${pid[$role]}" 2>/dev/null || { cat "$dir/logs/$role.log"; fail "$role exited"; }
    sleep 0.2
  done
  grpc_health "${!var}" || { tail -n 20 "$dir/logs/$role.log"; fail "$role is not SERVING"; }
done

# GET /v1/users/0 through the gateway: 401 when it refuses the caller; the
# users service's own 400 ("id must be > 0") when the caller got through.
call() {  # expected-status curl-args...: fails unless the gateway answers it
  local want=$1 answer
  shift
  answer=$(curl -sS --max-time 5 -D "$dir/headers" -w '\n%{http_code}' "$@" "http://$GATEWAY_REST/v1/users/0")
  [ "$(tail -n1 <<<"$answer")" = "$want" ] || fail "GET /v1/users/0 $*: $answer (want $want)"
  if [ "$want" = 400 ]; then
    grep -q 'id must be > 0' <<<"$answer" || fail "a 400 that did not come from users: $answer"
  else
    grep -qi '^www-authenticate:' "$dir/headers" || fail "a 401 without WWW-Authenticate"
  fi
}
call 401
call 401 -H "x-api-key: not-$api_key"
call 400 -H "x-api-key: $api_key"
call 400 -H "authorization: Bearer $(jwt a)"
call 401 -H "authorization: Bearer $(jwt b)"
ok "no credentials, a wrong API key, a token from an unknown key: 401; the Secret's API key and a token of its JWKS reach users"

# Kubernetes updates a Secret volume in place: new files, then ..data swapped.
"$python" - "$mount" "$dir/jwks-b.json" "$dir/api-keys" <<'PY' || fail "updating the Secret's files"
import sys
sys.path.insert(0, "deploy")
from chart_configs import write_secret_volume
mount, jwks, api_keys = sys.argv[1:]
write_secret_volume(mount, {"jwks.json": open(jwks, "rb").read(), "api-keys": open(api_keys, "rb").read()})
PY
token=$(jwt b)
for _ in $(seq 1 50); do
  code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" \
    "http://$GATEWAY_REST/v1/users/0")
  [ "$code" = 400 ] && break
  sleep 0.2
done
call 400 -H "authorization: Bearer $token"
call 401 -H "authorization: Bearer $(jwt a)"
kill -0 "${pid[gateway]}" || fail "the gateway restarted"
ok "the Secret updated in place: the new JWKS is used without a restart, the old key refused"

for role in gateway users; do
  kill -TERM "${pid[$role]}"
  code=0
  wait "${pid[$role]}" || code=$?
  unset "pid[$role]"
  [ "$code" -eq 0 ] || { tail -n 20 "$dir/logs/$role.log"; fail "$role exited $code"; }
done
ok "both drained and exited 0"
