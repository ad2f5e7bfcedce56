#!/usr/bin/env bash
# The Helm chart, offline: lint, render and validate it with the default
# values and every values file in helm/fanout/ci/; wrong values are rejected
# with their message; a config change rolls only its role; what each Service
# exposes and what the NetworkPolicies allow (edge_checks.py); the README's
# Deploy commands are rendered or printed by NOTES.
source "$(dirname "$0")/lib.sh"
export VALIDATOR=$FANOUT_TOOLS/k8s-validate/validate.mjs

renders=()
for values in "" helm/fanout/ci/*.yaml; do
  name=${values:-default values}
  helm lint --strict helm/fanout ${values:+-f "$values"} > "$scratch/lint.out" 2>&1 ||
    { cat "$scratch/lint.out"; fail "helm lint --strict, $name"; }
  out=$scratch/$(basename "${values:-default}" .yaml).yaml
  helm template fanout helm/fanout --namespace fanout ${values:+-f "$values"} > "$out" ||
    fail "helm template, $name"
  renders+=("$out")
  ok "$name: helm lint --strict, helm template"
done
node "$VALIDATOR" "${renders[@]}" || fail "rendered objects are not valid"
ok "every render is valid Kubernetes objects"

# The validator itself must catch what kubectl --validate=strict would.
good=$scratch/default.yaml
sed 's/readinessProbe:/readinesProbe:/' "$good" > "$scratch/typo.yaml"
sed 's/containerPort: 50051/containerPort: "grpc"/' "$good" > "$scratch/type.yaml"
sed '0,/targetPort: admin/s//targetPort: admn/' "$good" > "$scratch/port.yaml"
# A NetworkPolicy for pods that do not exist, one sending to a port its
# destination does not listen on.
"$python" - "$good" "$scratch/policy.yaml" "$scratch/egress.yaml" <<'PY'
import sys, yaml
for out, break_it in ((sys.argv[2], lambda p: p["spec"]["podSelector"]["matchLabels"].update({"app.kubernetes.io/component": "userz"})),
                      (sys.argv[3], lambda p: p["spec"]["egress"][-1]["ports"][0].update({"port": 50052}))):
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
    break_it(next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "fanout-orders"))
    yaml.safe_dump_all(docs, open(out, "w"))
PY
if node "$VALIDATOR" "$scratch"/{typo,type,port,policy,egress}.yaml > "$scratch/broken.out" 2>&1; then
  fail "the validator accepted manifests with errors"
fi
for broken in typo type port policy egress; do
  grep -m1 "$scratch/$broken.yaml" "$scratch/broken.out" || fail "the validator missed the $broken error"
done
ok "the validator rejects an unknown field, a wrong type, a dangling port name, a NetworkPolicy selecting nothing or sending to a closed port"

# Wrong values: each file's first line says the message helm must give.
for bad in tests/deploy/bad-values/*.yaml; do
  expect=$(sed -n '1s/^# expect: //p' "$bad")
  [ -n "$expect" ] || fail "$bad has no '# expect:' line"
  if helm template fanout helm/fanout -f "$bad" > "$scratch/bad.out" 2>&1; then
    fail "$bad was accepted"
  fi
  grep -qF -- "$expect" "$scratch/bad.out" || { cat "$scratch/bad.out"; fail "$bad: expected \"$expect\""; }
  ok "rejected $(basename "$bad"): $expect"
done

# A config change rolls that role's pods (checksum/config), and only its.
checksums() {
  helm template fanout helm/fanout "$@" | "$python" -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] in ("Deployment", "StatefulSet"):
        print(d["metadata"]["name"], d["spec"]["template"]["metadata"]["annotations"].get("checksum/config"))'
}
checksums > "$scratch/before"
checksums --set roles.gateway.config.gateway.max_in_flight=5000 > "$scratch/after"
changed=$({ diff "$scratch/before" "$scratch/after" || true; } | sed -n 's/^> \([^ ]*\) .*/\1/p' | tr '\n' ' ')
[ "$changed" = "fanout-gateway " ] || fail "a gateway config change rolled: '${changed:-nothing}'"
ok "a gateway config change rolls the gateway's pods only"

# What a cluster would need that the objects alone do not say.
"$python" - "$scratch/default.yaml" "$scratch/tracing-values.yaml" <<'PY' || fail "chart properties"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pods = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
assert set(pods) == {f"fanout-{r}" for r in ("users", "orders", "recommendations", "gateway")}, pods.keys()
for name, w in pods.items():
    spec = w["spec"]["template"]["spec"]
    c = spec["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["grpc"]["port"] == 50051, (name, probe)
    sleep = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
    assert spec["terminationGracePeriodSeconds"] > sleep + 5, name
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] and sc["capabilities"]["drop"] == ["ALL"] and not sc["allowPrivilegeEscalation"]
    assert c["resources"]["requests"] and c["resources"]["limits"], name
    assert spec["topologySpreadConstraints"], name
    assert w["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9090"
for stateful in ("fanout-users", "fanout-orders"):
    w = pods[stateful]
    assert w["kind"] == "StatefulSet" and w["spec"]["replicas"] == 1, stateful
    assert w["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data", stateful
kinds = {d["kind"] for d in docs}
assert {"PodDisruptionBudget", "ServiceAccount", "ConfigMap", "Service"} <= kinds, kinds
test = [d for d in docs if d["kind"] == "Pod" and d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
assert test and any("/v1/" in " ".join(c.get("command", [])) for c in test[0]["spec"]["containers"]), "helm test pod"
tracing = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
jaeger = [d for d in tracing if d["metadata"]["name"] == "fanout-jaeger"]
assert {d["kind"] for d in jaeger} == {"Deployment", "Service"}, "Jaeger all-in-one"
for w in tracing:
    if w["kind"] in ("Deployment", "StatefulSet") and w["metadata"]["name"] != "fanout-jaeger":
        env = {e["name"]: e.get("value") for e in w["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://fanout-jaeger.fanout.svc.cluster.local:4317", env
print("ok: gRPC probes, preStop < grace period, hardened pods, StatefulSets with claims, helm test pod, Jaeger and OTLP env")
PY

# The collector's credentials come from a Secret into every role's env, and
# the gRPC door's limits pass the schema into each role's config.
helm template fanout helm/fanout --namespace fanout -f helm/fanout/ci/tracing-values.yaml \
  --set tracing.headersSecret.name=otlp-auth \
  --set config.grpc_server.max_connection_age_ms=60000 > "$scratch/headers.yaml" ||
  fail "helm template, tracing.headersSecret and config.grpc_server"
"$python" - "$scratch/headers.yaml" <<'PY' || fail "OTLP headers from a Secret, grpc_server in configs"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
roles = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] != "fanout-jaeger"]
assert roles
for w in roles:
    env = {e["name"]: e for e in w["spec"]["template"]["spec"]["containers"][0]["env"]}
    ref = env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "otlp-auth", "key": "headers"}, ref
configs = [d for d in docs if d["kind"] == "ConfigMap" and "node.yaml" in d.get("data", {})]
assert configs
for c in configs:
    config = yaml.safe_load(c["data"]["node.yaml"])
    assert config["grpc_server"]["max_connection_age_ms"] == 60000, c["metadata"]["name"]
print("ok: OTLP headers from a Secret, grpc_server limits in every role's config")
PY
ok "tracing.headersSecret and config.grpc_server"

# TLS: each role mounts its Secret, its config points at the files, probes
# move to the admin port (the kubelet's gRPC probe has no TLS), the
# cert-manager Certificate names every role's Services, and the gateway's
# frame relay goes with it (TLS as its gRPC door).
helm template fanout helm/fanout --namespace fanout -f helm/fanout/ci/tls-values.yaml \
  --set tls.secretNames.gateway=public-tls --set tls.certManager.enabled=true \
  --set tls.certManager.issuerRef.name=fanout-ca > "$scratch/tls.yaml" || fail "helm template, TLS"
"$python" - "$scratch/tls.yaml" <<'PY' || fail "TLS rendering"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pods = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
configs = {d["metadata"]["name"]: yaml.safe_load(d["data"]["node.yaml"]) for d in docs if d["kind"] == "ConfigMap"}
for name, w in pods.items():
    spec = w["spec"]["template"]["spec"]
    c = spec["containers"][0]
    secret = {v["name"]: v for v in spec["volumes"]}["tls"]["secret"]["secretName"]
    assert secret == ("public-tls" if name == "fanout-gateway" else "fanout-tls"), (name, secret)
    assert {"name": "tls", "mountPath": "/etc/fanout-tls", "readOnly": True} in c["volumeMounts"], name
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == "admin" and "grpc" not in c[probe], (name, probe)
    config = configs[name]
    door = config["grpc_tls"]
    assert door["cert_file"] == "/etc/fanout-tls/tls.crt" and door["require_client_cert"], (name, door)
    for backend, settings in config.get("backends", {}).items():
        tls = settings["tls"]
        assert tls["ca_file"] == "/etc/fanout-tls/ca.crt" and tls["cert_file"], (name, backend, tls)
assert configs["fanout-gateway"]["gateway"]["rest_tls"]["key_file"] == "/etc/fanout-tls/tls.key"
assert configs["fanout-gateway"]["gateway"]["grpc_relay_address"].endswith(":50061")
[cert] = [d for d in docs if d["kind"] == "Certificate"]
assert cert["spec"]["secretName"] == "fanout-tls" and cert["spec"]["issuerRef"]["name"] == "fanout-ca"
names = set(cert["spec"]["dnsNames"])
services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
assert services == {f"fanout-{r}{s}" for r in ("users", "orders", "recommendations", "gateway")
                    for s in ("", "-headless")} | {"fanout-gateway-internal"}, services
for service in services:
    assert f"{service}.fanout.svc.cluster.local" in names and f"{service}.fanout" in names, service
test = [d for d in docs if d["kind"] == "Pod"][0]
[rest] = [c for c in test["spec"]["containers"] if c["name"] == "rest-route"]
assert "--cacert /etc/fanout-tls/ca.crt" in rest["command"][2] and "https://fanout-gateway:8080/" in rest["command"][2], "helm test over HTTPS"
print("ok: TLS Secret mounted per role, configs name its files, admin-port probes, Certificate dnsNames (every Service), HTTPS helm test")
PY
! grep -q "kind: Certificate" "$scratch/default.yaml" || fail "a Certificate without tls.certManager.enabled"
ok "plaintext by default; TLS renders as configured"

"$python" tests/deploy/edge_checks.py "$scratch" || fail "the chart's edge: Services, NetworkPolicies, lab, auth"

"$python" tests/deploy/readme_commands.py "$scratch" || fail "README Deploy commands"
ok "every README Deploy command is rendered, printed by NOTES or run by the deploy tests"
