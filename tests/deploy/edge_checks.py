#!/usr/bin/env python3
"""The chart's edge, checked on `helm template` output: what each Service
exposes, who may reach whom under its NetworkPolicies, the gateway's auth
Secret and the lab role's default.

    edge_checks.py SCRATCH_DIR      (helm on PATH, run from the repo root)

NetworkPolicies are checked by what they allow, not by how they are
written: a small evaluator of the NetworkPolicy API's rules (policies are
additive; a pod selected by none is open; a connection needs the source's
egress and the destination's ingress) answers "may pod A open port P on pod
B" for every pair of roles, a stranger in the namespace, Prometheus, the
`helm test` pod, and an address outside the cluster.
"""
import base64
import ipaddress
import os
import subprocess
import sys

import yaml

NS = "fanout"
ROLES = ["users", "orders", "recommendations", "lab", "gateway"]
GRPC, ADMIN, REST, RELAY = 50051, 9090, 8080, 50061
scratch = sys.argv[1]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
    return condition


def render(*args):
    result = subprocess.run(["helm", "template", "fanout", "helm/fanout", "--namespace", NS, *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"helm template {' '.join(args)}: {result.stderr.strip()}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def of_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs):
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs
            if d["kind"] in ("Deployment", "StatefulSet")}


def configs(docs):
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: yaml.safe_load(d["data"]["node.yaml"])
            for d in docs if d["kind"] == "ConfigMap"}


# --- a NetworkPolicy evaluator ------------------------------------------

def selects(selector, labels):
    """A LabelSelector (matchLabels, matchExpressions) against labels; {} selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        has, value = e["key"] in labels, labels.get(e["key"])
        if not {"In": has and value in e.get("values", []),
                "NotIn": not has or value not in e.get("values", []),
                "Exists": has, "DoesNotExist": not has}[e["operator"]]:
            return False
    return True


class Endpoint:
    """A pod (namespace, its labels, its namespace's labels, container ports
    by name) or an address outside the cluster (namespace None)."""

    def __init__(self, name, ns=NS, labels=None, ip="10.0.0.1", ports=None):
        self.name, self.ns, self.labels, self.ip = name, ns, labels or {}, ip
        self.ns_labels = {"kubernetes.io/metadata.name": ns} if ns else {}
        self.ports = ports or {}


def peer_matches(peer, endpoint, policy_ns):
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(endpoint.ip)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if endpoint.ns is None:  # pod and namespace selectors name pods only
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], endpoint.ns_labels):
            return False
    elif endpoint.ns != policy_ns:
        return False
    return selects(peer.get("podSelector"), endpoint.labels)


def port_matches(rule_ports, port, protocol, pod):
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p or p["port"] == port or pod.ports.get(p["port"]) == port:
            return True
    return False


def allowed_one_way(policies, pod, other, port, protocol, direction):
    """Does `pod`'s side allow the connection (direction Ingress: from other
    to pod's port; Egress: from pod to other's port)?"""
    mine = [p for p in policies if p["metadata"]["namespace"] == pod.ns
            and selects(p["spec"]["podSelector"], pod.labels)
            and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if pod.ns is None or not mine:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    target = pod if direction == "Ingress" else other
    for policy in mine:
        for rule in policy["spec"].get(key) or []:
            if not port_matches(rule.get("ports"), port, protocol, target):
                continue
            peers = rule.get(peers_key)
            if not peers or any(peer_matches(peer, other, policy["metadata"]["namespace"]) for peer in peers):
                return True
    return False


def may_connect(policies, source, dest, port, protocol="TCP"):
    return (allowed_one_way(policies, source, dest, port, protocol, "Egress") and
            allowed_one_way(policies, dest, source, port, protocol, "Ingress"))


def endpoints(docs):
    """The chart's pods, and the strangers that test its policies."""
    found = {}
    for role, w in workloads(docs).items():
        c = w["spec"]["template"]["spec"]["containers"][0]
        found[role] = Endpoint(role, labels=w["spec"]["template"]["metadata"]["labels"],
                               ports={p["name"]: p["containerPort"] for p in c["ports"]})
    for name, w in of_kind(docs, "Deployment").items():
        if w["metadata"]["labels"]["app.kubernetes.io/component"] == "jaeger":
            found["jaeger"] = Endpoint("jaeger", labels=w["spec"]["template"]["metadata"]["labels"])
    for pod in of_kind(docs, "Pod").values():
        found["helm-test"] = Endpoint("helm-test", labels=pod["metadata"]["labels"])
    found["stranger"] = Endpoint("stranger", labels={"app": "something-else"})
    found["prometheus"] = Endpoint("prometheus", ns="monitoring",
                                   labels={"app.kubernetes.io/name": "prometheus"})
    found["ingress-nginx"] = Endpoint("ingress-nginx", ns="ingress-nginx",
                                      labels={"app.kubernetes.io/name": "ingress-nginx"})
    found["kube-dns"] = Endpoint("kube-dns", ns="kube-system", labels={"k8s-app": "kube-dns"})
    found["internet"] = Endpoint("internet", ns=None, ip="203.0.113.7")
    return found


# The roles each role calls over gRPC (services/fanoutd/node_config.cc: orders
# checks users, recommendations asks orders; the gateway fans out to all).
CALLS = {"gateway": {"users", "orders", "recommendations", "lab"}, "orders": {"users"},
         "recommendations": {"orders"}, "users": set(), "lab": set()}


def check_policies(name, docs, *, ingress_from_anywhere=True, metrics_from="prometheus",
                   egress_restricted=True, tracing_to=None, grpc_out_anywhere=(), relay=False):
    """grpc_out_anywhere: roles whose egress allows the gRPC port to any
    address (they call a backend elsewhere: backends.<name>.target)."""
    policies = list(of_kind(docs, "NetworkPolicy").values())
    pods = endpoints(docs)
    roles = [r for r in ROLES if r in pods]
    by_role = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in policies}
    check(sorted(by_role) == sorted(roles) and len(policies) == len(roles),
          f"{name}: one NetworkPolicy per role: {sorted(by_role)} for roles {roles}")
    # gRPC between the chart's roles: exactly the calls fanoutd makes.
    for source in roles:
        for dest in roles:
            out = not egress_restricted or source in grpc_out_anywhere
            expected = dest in CALLS[source] or (dest == "gateway" and ingress_from_anywhere and out)
            check(may_connect(policies, pods[source], pods[dest], GRPC) == expected,
                  f"{name}: {source} -> {dest} gRPC should be {'allowed' if expected else 'refused'}")
    outsiders = ["stranger", "helm-test", "prometheus", "ingress-nginx", "internet"]
    for who in outsiders:
        for dest in roles:
            front = dest == "gateway" and (ingress_from_anywhere or who == "ingress-nginx")
            expect = {GRPC: front, REST: front or (dest == "gateway" and who == "helm-test"),
                      ADMIN: who == metrics_from or (dest == "gateway" and who == "helm-test"),
                      RELAY: front and relay}
            for port, expected in expect.items():
                if port in (REST, RELAY) and dest != "gateway":
                    continue
                check(may_connect(policies, pods[who], pods[dest], port) == expected,
                      f"{name}: {who} -> {dest}:{port} should be {'allowed' if expected else 'refused'}")
    for role in roles:
        pod = pods[role]
        check(may_connect(policies, pod, pods["kube-dns"], 53, "UDP"), f"{name}: {role} -> DNS/UDP")
        check(may_connect(policies, pod, pods["kube-dns"], 53, "TCP"), f"{name}: {role} -> DNS/TCP")
        check(may_connect(policies, pod, pods["internet"], 443) != egress_restricted,
              f"{name}: {role} -> internet:443 should be {'refused' if egress_restricted else 'allowed'}")
        check(may_connect(policies, pod, pods["stranger"], 5432) != egress_restricted,
              f"{name}: {role} -> a stranger's port should be {'refused' if egress_restricted else 'allowed'}")
        if tracing_to:
            collector, port = tracing_to
            check(may_connect(policies, pod, pods[collector], port), f"{name}: {role} -> {collector}:{port}")
    return policies, pods


def check_services(name, docs, *, public_type="ClusterIP", expose_grpc=False, relay=False):
    services = of_kind(docs, "Service")
    ports = {n: {p["name"]: p["port"] for p in s["spec"]["ports"]} for n, s in services.items()}
    public, internal = services.get("fanout-gateway"), services.get("fanout-gateway-internal")
    if not check(public and internal, f"{name}: the gateway's public and -internal Services"):
        return
    relayed = {"grpc-relay": RELAY} if relay else {}
    want = {"rest": REST, **({"grpc": GRPC, **relayed} if expose_grpc else {})}
    check(ports["fanout-gateway"] == want, f"{name}: public Service ports {ports['fanout-gateway']}, want {want}")
    check(public["spec"]["type"] == public_type, f"{name}: public Service type {public['spec']['type']}")
    check(ports["fanout-gateway-internal"] == {"grpc": GRPC, "admin": ADMIN, **relayed},
          f"{name}: internal Service ports {ports['fanout-gateway-internal']}")
    gateway_config = configs(docs)["gateway"]
    check(gateway_config["gateway"].get("grpc_relay_address") == (f"0.0.0.0:{RELAY}" if relay else None),
          f"{name}: the gateway's grpc_relay_address {gateway_config['gateway'].get('grpc_relay_address')}")
    for n, s in services.items():
        if s["spec"].get("type", "ClusterIP") != "ClusterIP":
            check(n == "fanout-gateway", f"{name}: {n} is a {s['spec']['type']}")
        if "admin" in ports[n]:
            check(s["spec"].get("type", "ClusterIP") == "ClusterIP" and s["spec"].get("clusterIP") != "None",
                  f"{name}: {n} carries admin but is not an in-cluster ClusterIP")
    check(internal["spec"]["selector"] == public["spec"]["selector"] and
          internal["spec"]["selector"]["app.kubernetes.io/component"] == "gateway",
          f"{name}: both gateway Services select the gateway's pods")
    # The ServiceMonitor scrapes every role's admin port through the internal
    # Services, and nothing public.
    for monitor in of_kind(docs, "ServiceMonitor").values():
        chosen = {n for n, s in services.items()
                  if selects(monitor["spec"]["selector"], s["metadata"]["labels"])}
        scraped = {n for n in chosen if any(e["port"] in ports[n] for e in monitor["spec"]["endpoints"])}
        roles = {r for r in workloads(docs)}
        want = {("fanout-gateway-internal" if r == "gateway" else f"fanout-{r}") for r in roles}
        check(scraped == want == chosen, f"{name}: ServiceMonitor scrapes {sorted(scraped)} (selects {sorted(chosen)}), want {sorted(want)}")
    for ingress in of_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                check(backend == {"name": "fanout-gateway", "port": {"name": "rest"}},
                      f"{name}: Ingress backend {backend}")
    # `helm test`: /readyz on the internal Service's admin port, a REST route on the public one.
    for pod in of_kind(docs, "Pod").values():
        text = " ".join(" ".join(c.get("args", []) + c.get("command", [])) for c in pod["spec"]["containers"])
        check(f"://fanout-gateway-internal:{ADMIN}/readyz" in text and f"://fanout-gateway:{REST}/v1/" in text,
              f"{name}: helm test pod's URLs: {text}")


default = render()
check_services("default", default)
check_policies("default", default)
all_roles = render("-f", "helm/fanout/ci/all-roles-values.yaml")
check_services("all-roles", all_roles, public_type="LoadBalancer", expose_grpc=True, relay=True)
check_policies("all-roles", all_roles, ingress_from_anywhere=False, relay=True)
# all-roles: Prometheus is whatever runs in the namespace "monitoring".
policies = list(of_kind(all_roles, "NetworkPolicy").values())
pods = endpoints(all_roles)
for role in ROLES:
    check(may_connect(policies, Endpoint("p", ns="monitoring", labels={"app": "x"}), pods[role], ADMIN),
          f"all-roles: the monitoring namespace scrapes {role}")
check(may_connect(policies, pods["gateway"], Endpoint("db", ip="10.20.3.4"), 5432),
      "all-roles: extraEgress to 10.20.0.0/16:5432")
check(may_connect(policies, pods["gateway"], pods["internet"], 4317), "all-roles: gateway -> OTLP collector port")
check_policies("tracing", render("-f", "helm/fanout/ci/tracing-values.yaml"), tracing_to=("jaeger", 4317))
check_policies("open egress", render("--set", "networkPolicy.restrictEgress=false"), egress_restricted=False)
gateway_only = render("-f", "helm/fanout/ci/gateway-only-values.yaml")
policies, pods = check_policies("gateway-only", gateway_only, grpc_out_anywhere={"gateway"})
check(may_connect(policies, pods["gateway"], Endpoint("core", ns="backends", ip="10.1.2.3"), GRPC),
      "gateway-only: the gateway reaches backends of another release on their port")
grpc_from = render("--set", "roles.lab.enabled=true", "--set-json",
                   'networkPolicy.grpcFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"edge"}},'
                   '"podSelector":{"matchLabels":{"app.kubernetes.io/component":"gateway"}}}]')
policies, pods = check_policies("grpcFrom", grpc_from)
other_gateway = Endpoint("edge-gateway", ns="edge", labels={"app.kubernetes.io/component": "gateway"})
for role in ["users", "orders", "recommendations", "lab"]:
    check(may_connect(policies, other_gateway, pods[role], GRPC), f"grpcFrom: edge's gateway -> {role}")
    check(not may_connect(policies, other_gateway, pods[role], ADMIN), f"grpcFrom: edge's gateway -> {role} admin")
check(not of_kind(render("--set", "networkPolicy.enabled=false"), "NetworkPolicy"),
      "networkPolicy.enabled=false renders NetworkPolicies")
check(not of_kind(render("--set", "networkPolicy.enabled=false", "--set", "roles.lab.enabled=true"),
                  "NetworkPolicy"), "networkPolicy.enabled=false (with lab) renders NetworkPolicies")

# --- the lab role: off unless asked for --------------------------------
check("lab" not in workloads(default) and "lab" not in configs(default),
      f"default: a lab workload or ConfigMap: {sorted(workloads(default))}")
check(not [n for n in of_kind(default, "Service") if "lab" in n], "default: a lab Service")
for role, config in configs(default).items():
    check("lab" not in (config.get("backends") or {}), f"default: {role} calls lab")
with_lab = render("--set", "roles.lab.enabled=true")
lab_config = configs(with_lab)
check("lab" in workloads(with_lab), "roles.lab.enabled=true: no lab workload")
check(lab_config["gateway"]["backends"].get("lab", {}).get("target") ==
      "dns:///fanout-lab-headless.fanout.svc.cluster.local:50051",
      f"roles.lab.enabled=true: the gateway's lab backend {lab_config['gateway']['backends'].get('lab')}")
check(configs(gateway_only)["gateway"]["backends"]["lab"]["target"] ==
      "core-fanout-lab.backends.svc.cluster.local:50051", "gateway-only: backends.lab.target")

# --- the gateway's auth Secret -----------------------------------------
AUTH = "/etc/fanout-auth"


def auth_mounts(docs):
    """role -> [(volume, mount)] of every Secret volume mounted at /etc/fanout-auth."""
    found = {}
    for role, w in workloads(docs).items():
        spec = w["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for m in spec["containers"][0]["volumeMounts"]:
            if m["mountPath"] == AUTH:
                found.setdefault(role, []).append((volumes.get(m["name"]), m))
    return found


check(not auth_mounts(default) and "auth" not in configs(default)["gateway"]["gateway"],
      "default: an auth mount or gateway.auth")
values = yaml.safe_load(open("helm/fanout/ci/auth-values.yaml"))["roles"]["gateway"]["auth"]
auth = render("-f", "helm/fanout/ci/auth-values.yaml")
mounts = auth_mounts(auth)
if check(list(mounts) == ["gateway"] and len(mounts["gateway"]) == 1,
         f"auth: the gateway (only) mounts {AUTH}: {mounts}"):
    volume, mount = mounts["gateway"][0]
    check(mount.get("readOnly") is True and "subPath" not in mount and "subPathExpr" not in mount,
          f"auth: mount {mount} must be read-only, without subPath (a subPath never updates)")
    secret_name = (volume or {}).get("secret", {}).get("secretName")
    check(secret_name == "fanout-gateway-auth" and "items" not in volume["secret"],
          f"auth: volume {volume}")
    secret = of_kind(auth, "Secret").get(secret_name)
    if check(secret, f"auth: no Secret {secret_name} in the render"):
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        check(data == values["files"], f"auth: the Secret holds {sorted(data)}, want {sorted(values['files'])}")
gateway_auth = configs(auth)["gateway"]["gateway"]["auth"]
check(gateway_auth["jwt"] == {"issuer": "https://issuer.example.com", "audiences": ["fanout"],
                              "refresh_interval_s": 1, "jwks_file": f"{AUTH}/jwks.json"},
      f"auth: gateway.auth.jwt {gateway_auth['jwt']}")
check(gateway_auth["api_keys"] == {"file": f"{AUTH}/api-keys"}, f"auth: api_keys {gateway_auth['api_keys']}")
check(gateway_auth["default_mode"] == "REQUIRED", "auth: default_mode kept")
for role, config in configs(auth).items():
    check(role == "gateway" or "auth" not in (config.get("gateway") or {}), f"auth: {role} has gateway.auth")


def rolls(*args):
    w = workloads(render("-f", "helm/fanout/ci/auth-values.yaml", *args))["gateway"]
    return w["spec"]["template"]["metadata"]["annotations"].get("checksum/api-keys")


# fanoutd reads API keys at start only: a change rolls the gateway; the JWKS
# it re-reads in place, so a new one does not.
base = rolls()
check(base and rolls("--set", "roles.gateway.auth.files.api-keys=other 00 x") != base,
      "auth: new API keys do not roll the gateway's pods")
check(rolls("--set-string", "roles.gateway.auth.files.jwks\\.json=[]") == base, "auth: a new JWKS rolls the gateway's pods")

all_auth = configs(all_roles)["gateway"]["gateway"]["auth"]
volume, mount = auth_mounts(all_roles)["gateway"][0]
check(volume["secret"]["secretName"] == "fanout-gateway-credentials" and "Secret" not in
      {d["kind"] for d in all_roles}, "all-roles: existingSecret mounted, no Secret created")
check(all_auth["jwt"]["jwks_file"] == f"{AUTH}/jwks.json" and "api_keys" not in all_auth,
      f"all-roles: gateway.auth {all_auth}")

for f in failures:
    print(f"FAIL: {f}", file=sys.stderr)
if failures:
    sys.exit(1)
print("ok: Services (public: REST only; -internal: gRPC, admin; ServiceMonitor on internal ones), "
      "NetworkPolicies allow exactly the chart's calls, lab off by default, auth Secret mounted in place")
