#!/usr/bin/env bash
# The local topology as a user runs it (deploy/topology.sh): the chart's own
# configs, one fanoutd per role on free ports, healthy, answering across
# processes, and every role drained with exit 0 on Ctrl-C.
#
#   topology_test.sh FANOUTD backends   users, orders, recommendations
#   topology_test.sh FANOUTD gateway    and the gateway: a dashboard through
#                                       its REST port, no lab routes, and the
#                                       chart's `helm test` pod's commands
#
# The chart's defaults have no lab role (tests/drill runs it).
source "$(dirname "$0")/lib.sh"
source deploy/grpc_curl.sh
fanoutd=$(realpath "$1") mode=$2

roles=users,orders,recommendations
values=()
if [ "$mode" = gateway ]; then
  require_gateway "$fanoutd"
  roles=$roles,gateway
  # The gateway's frame relay too, as roles.gateway.relay.enabled deploys it.
  echo "roles: {gateway: {relay: {enabled: true}}}" > "$scratch/relay-values.yaml"
  values=(-f "$scratch/relay-values.yaml")
fi

dir=$scratch/topology
# Job control: topology.sh gets its own process group and keeps SIGINT, so
# the test can press Ctrl-C as a terminal does (SIGINT to the whole group).
set -m
bash deploy/topology.sh --fanoutd "$fanoutd" --base-port auto --rest-port auto \
  --dir "$dir" --roles "$roles" "${values[@]}" > "$scratch/topology.out" 2>&1 &
topology=$!
cleanup_hooks=("kill -TERM $topology 2>/dev/null; wait $topology" "${cleanup_hooks[@]}")
for _ in $(seq 1 300); do
  [ -f "$dir/endpoints.env" ] && break
  kill -0 "$topology" 2>/dev/null || { cat "$scratch/topology.out"; fail "topology.sh exited early"; }
  sleep 0.2
done
[ -f "$dir/endpoints.env" ] || { cat "$scratch/topology.out"; fail "no endpoints after 60 s"; }
cat "$scratch/topology.out"
source "$dir/endpoints.env"
[ "$ROLES" = "${roles//,/ }" ] || fail "roles running: $ROLES, expected ${roles//,/ }"
grep -q "Ctrl-C stops them all" "$scratch/topology.out" || fail "no endpoints printed"

# Health, per process and per service.
for pair in users:fanout.users.v1.Users orders:fanout.orders.v1.Orders \
  recommendations:fanout.recommendations.v1.Recommendations; do
  role=${pair%%:*} service=${pair#*:} var=${pair%%:*}
  var=${var^^}_GRPC
  grpc_health "${!var}" && grpc_health "${!var}" "$service" || fail "$role is not SERVING"
  curl -fsS "http://$(v=${role^^}_ADMIN; echo "${!v}")/readyz" >/dev/null || fail "$role /readyz"
done
ok "every role SERVING (grpc.health.v1) and ready (/readyz)"

# Across processes: recommendations asks orders at the address the chart's
# backend config was moved to.
grpc_call "$USERS_GRPC" fanout.users.v1.Users/CreateUser \
  "$(grpc_string_field 0a Ada)$(grpc_string_field 12 ada@example.com)" > "$scratch/user.hex"
[[ $(cat "$scratch/user.hex") == 0801* ]] || fail "CreateUser gave $(cat "$scratch/user.hex") (want id 1)"
grpc_call "$ORDERS_GRPC" fanout.orders.v1.Orders/CreateOrder "0801$(grpc_string_field 12 book)1801" >/dev/null
reply=$(grpc_call "$RECOMMENDATIONS_GRPC" fanout.recommendations.v1.Recommendations/Recommend 0801)
[[ "$reply" == *1001 ]] || fail "Recommend did not consider the user's order: $reply"
ok "recommendations reached orders through the chart's backend config"

if [ "$mode" = gateway ]; then
  grpc_health "$GATEWAY_GRPC" || fail "gateway is not SERVING"
  created=$(curl -sS --max-time 5 -w '\n%{http_code}' -X POST "http://$GATEWAY_REST/v1/users" \
    -H 'content-type: application/json' -d '{"name": "Grace", "email": "grace@example.com"}')
  [ "$(tail -n1 <<<"$created")" = 201 ] || fail "POST /v1/users: $created"
  id=$(head -n1 <<<"$created" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  order=$(curl -sS --max-time 5 -w '\n%{http_code}' -X POST "http://$GATEWAY_REST/v1/users/$id/orders" \
    -H 'content-type: application/json' -d '{"item": "book", "quantity": 1, "amount_cents": 1200}')
  [ "$(tail -n1 <<<"$order")" = 201 ] || fail "POST /v1/users/$id/orders: $order"
  dashboard=$(curl -sS --max-time 5 -w '\n%{http_code}' "http://$GATEWAY_REST/v1/users/$id/dashboard")
  [ "$(tail -n1 <<<"$dashboard")" = 200 ] || fail "GET /v1/users/$id/dashboard: $dashboard"
  head -n1 <<<"$dashboard" | "$python" -c '
import json, sys
body = json.load(sys.stdin)
assert body["user"]["name"] == "Grace", body
assert len(body["orders"]) == 1 and body["orders"][0]["item"] == "book", body
' || fail "dashboard body: $dashboard"
  ok "GET /v1/users/$id/dashboard through the gateway's REST port: $(head -n1 <<<"$dashboard" | cut -c1-200)"

  # The frame relay, to the users process: GetUser{id}, the reply a User
  # named Grace; a method no backend serves is UNIMPLEMENTED.
  [ -n "${GATEWAY_RELAY:-}" ] || fail "no GATEWAY_RELAY in endpoints.env"
  reply=$(grpc_call "$GATEWAY_RELAY" fanout.users.v1.Users/GetUser "$(printf '08%02x' "$id")") ||
    fail "GetUser through the gateway's frame relay failed"
  [[ $reply == *$(printf Grace | od -An -tx1 | tr -d ' \n')* ]] || fail "GetUser through the relay: $reply"
  if grpc_call "$GATEWAY_RELAY" nope.v1.Nothing/Here "" > "$scratch/nope.out" 2>&1; then
    fail "an unserved method went through the relay"
  fi
  grep -q "grpc-status 12" "$scratch/nope.out" ||
    fail "unserved method through the relay: $(cat "$scratch/nope.out")"
  ok "gRPC through the gateway's frame relay to the users process: GetUser $id is Grace"

  # No lab: neither its routes nor its service through the gateway.
  for request in "GET /v1/lab/echo?message=x" "POST /v1/fanout.lab.v1.Lab/Echo"; do
    code=$(curl -sS --max-time 5 -o "$scratch/lab.out" -w '%{http_code}' -X "${request% *}" \
      -d '{}' "http://$GATEWAY_REST${request#* }")
    [ "$code" = 404 ] || fail "$request: $code $(cat "$scratch/lab.out") (want 404: no lab by default)"
  done
  ok "the gateway routes nothing to lab by default: /v1/lab/echo and POST /v1/fanout.lab.v1.Lab/Echo are 404"

  # The chart's `helm test` pod, each container's command run here with the
  # Services' names moved to this machine's addresses.
  "$python" - "$dir/rendered.yaml" "$GATEWAY_ADMIN" "$GATEWAY_REST" > "$scratch/helm-test.sh" <<'PY' ||
import shlex, sys, yaml
rendered, admin, rest = sys.argv[1:]
[pod] = [d for d in yaml.safe_load_all(open(rendered)) if d and d["kind"] == "Pod"]
print("set -e")
for c in pod["spec"]["containers"]:
    argv = c.get("command") or ["curl", *c["args"]]  # the curl image's entrypoint is curl
    line = shlex.join(argv).replace("fanout-gateway-internal:9090", admin).replace("fanout-gateway:8080", rest)
    assert "fanout-gateway" not in line, line
    print(f"echo '== {c['name']}'; {line}")
PY
    fail "the helm test pod"
  bash "$scratch/helm-test.sh" > "$scratch/helm-test.out" 2>&1 ||
    { cat "$scratch/helm-test.sh" "$scratch/helm-test.out"; fail "the chart's helm test fails against the topology"; }
  ok "the chart's helm test passes: $(tr '\n' ' ' < "$scratch/helm-test.out" | cut -c1-200)"
fi

# Ctrl-C as a terminal sends it, to the whole process group: topology.sh
# sends each role one SIGTERM, each drains and exits 0.
kill -INT -- "-$topology"
status=0
wait "$topology" || status=$?
cleanup_hooks=("${cleanup_hooks[@]:1}")
tail -n 3 "$scratch/topology.out"
[ "$status" -eq 0 ] || fail "topology.sh exited $status on Ctrl-C"
grep -q "every role drained and exited 0" "$scratch/topology.out" || fail "not every role exited 0"
for role in ${ROLES}; do
  grep -q "draining" "$dir/logs/$role.log" || fail "$role did not drain"
done
ok "Ctrl-C: every role drained and exited 0"
