#!/usr/bin/env bash
# The Kubernetes topology on one machine: one fanoutd process per role
# (users, orders, recommendations, gateway; lab when the values enable it
# or with --with-lab), each with the config the Helm chart renders for it
# (helm/fanout), its addresses moved to 127.0.0.1 (a Secret the chart
# renders, as the gateway's auth files, is written under DIR/config/mounts/
# and the config points there).
# Starts them, waits until each answers grpc.health.v1 SERVING, prints the
# endpoints, and stops them all (SIGTERM, drained) on Ctrl-C.
#
#   bash deploy/topology.sh                     # gRPC 50051.., admin 9090.., REST 8080
#   bash deploy/topology.sh -f my-values.yaml   # chart values, as for helm install
#   bash deploy/topology.sh --base-port auto --rest-port auto   # free ports
#   bash deploy/topology.sh --with-lab          # the lab role too (and /v1/lab/* routes)
#
# Options: -f/--values FILE (repeatable), --with-lab (roles.lab.enabled=true
# over the values), --base-port N|auto, --rest-port N|auto,
# --dir DIR (configs, logs, data; default .topology), --fanoutd PATH (skip
# the build), --roles a,b (a subset), --jaeger PATH (a Jaeger all-in-one
# binary; default: $JAEGER_BIN, else jaeger-all-in-one on PATH, else none).
# When it is up, DIR/endpoints.env holds the addresses (USERS_GRPC=127.0.0.1:50051,
# GATEWAY_REST=..., ROLES=...).
#
# Tracing: with a Jaeger binary, Jaeger starts first (OTLP on
# 127.0.0.1:${JAEGER_OTLP_PORT:-4317}, UI on 127.0.0.1:${JAEGER_UI_PORT:-16686}) and every
# role exports its spans to it; without one, OTEL_EXPORTER_OTLP_ENDPOINT (a
# collector of your own) is passed on to the roles if set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
values=() base_port=50051 rest_port=8080 dir=$root/.topology fanoutd="" roles="" with_lab=0
jaeger=${JAEGER_BIN:-$(command -v jaeger-all-in-one || true)}
while [ $# -gt 0 ]; do
  case $1 in
    -f | --values) values+=(-f "$(realpath "$2")"); shift 2 ;;
    --with-lab) with_lab=1; shift ;;
    --base-port) base_port=$2; shift 2 ;;
    --rest-port) rest_port=$2; shift 2 ;;
    --dir) dir=$(realpath -m "$2"); shift 2 ;;
    --fanoutd) fanoutd=$(realpath "$2"); shift 2 ;;
    --roles) roles=$2; shift 2 ;;
    --jaeger) jaeger=$(realpath "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "topology: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
cd "$root"
say() { echo "topology: $*" >&2; }

if [ -z "$fanoutd" ]; then
  bash deploy/setup.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target fanoutd
  fanoutd=$root/build/services/fanoutd/fanoutd
fi
eval "$(bash deploy/tools.sh --env)"
python=python3
python3 -c 'import yaml' 2>/dev/null || python=/usr/bin/python3
source deploy/grpc_curl.sh

# The chart's configs, localized.
mkdir -p "$dir/config" "$dir/logs" "$dir/data"
rm -f "$dir/endpoints.env"
# --set after every -f: it wins over them, as on a helm command line.
[ "$with_lab" = 1 ] && values+=(--set roles.lab.enabled=true)
helm template fanout helm/fanout "${values[@]}" > "$dir/rendered.yaml"
"$python" deploy/chart_configs.py "$dir/rendered.yaml" "$dir/config" --local \
  --base-port "$base_port" --rest-port "$rest_port" --data-dir "$dir/data" \
  ${roles:+--roles "$roles"} >/dev/null
source "$dir/config/ports.env"
unset "${!FANOUT_@}"  # environment overrides would move the chart's addresses

run=()
for role in $ROLES; do
  if ! out=$("$fanoutd" --check-config "$dir/config/$role.yaml" 2>&1); then
    say "the chart's $role config is rejected: $out"
    exit 1
  fi
  run+=("$role")
done

declare -A pid
stopping=0
jaeger_pid=""
stop_all() {  # SIGTERM to every role (each drains), then their exit statuses
  local status=0 role code
  for role in "${!pid[@]}"; do kill -TERM "${pid[$role]}" 2>/dev/null || true; done
  for role in "${!pid[@]}"; do
    code=0
    wait "${pid[$role]}" 2>/dev/null || code=$?
    # wait is cut short by a trapped signal (> 128): wait again for the status.
    while [ "$code" -gt 128 ] && kill -0 "${pid[$role]}" 2>/dev/null; do
      code=0
      wait "${pid[$role]}" 2>/dev/null || code=$?
    done
    if [ "$code" -ne 0 ]; then
      say "$role exited with status $code (log: $dir/logs/$role.log)"
      status=1
    fi
  done
  # Jaeger last: the roles export their final spans while draining.
  if [ -n "$jaeger_pid" ]; then
    kill -TERM "$jaeger_pid" 2>/dev/null || true
    wait "$jaeger_pid" 2>/dev/null || true
  fi
  [ "$status" -eq 0 ] && say "stopped: every role drained and exited 0"
  return "$status"
}
on_signal() {  # $1: INT or TERM
  if [ "$stopping" -eq 1 ]; then
    # A second Ctrl-C: fanoutd exits at once on a second signal (one that
    # comes a second or more after the first).
    if [ "$1" = INT ]; then
      say "second Ctrl-C: stopping at once"
      for role in "${!pid[@]}"; do kill -TERM "${pid[$role]}" 2>/dev/null || true; done
    fi
    return
  fi
  stopping=1
  echo >&2
  say "stopping (in-flight calls drain; Ctrl-C again to stop at once)"
  local status=0
  stop_all || status=$?
  exit "$status"
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

if [ -n "$jaeger" ]; then
  otlp_port=${JAEGER_OTLP_PORT:-4317} ui_port=${JAEGER_UI_PORT:-16686}
  setsid "$jaeger" --collector.otlp.enabled=true \
    --collector.otlp.grpc.host-port="127.0.0.1:$otlp_port" \
    --collector.otlp.http.host-port="127.0.0.1:$((otlp_port + 1))" \
    --query.http-server.host-port="127.0.0.1:$ui_port" \
    > "$dir/logs/jaeger.log" 2>&1 < /dev/null &
  jaeger_pid=$!
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port"
fi

# Each role in its own session: a terminal's Ctrl-C reaches this script only,
# which then sends each role one SIGTERM (a later second signal makes
# fanoutd exit at once, without draining).
for role in "${run[@]}"; do
  setsid "$fanoutd" --config "$dir/config/$role.yaml" > "$dir/logs/$role.log" 2>&1 < /dev/null &
  pid[$role]=$!
done

# Healthy: grpc.health.v1 SERVING overall and for each service of the role.
deadline=$((SECONDS + ${TOPOLOGY_START_TIMEOUT:-60}))
for role in "${run[@]}"; do
  var=${role^^}_GRPC
  address=${!var}
  for service in "" $(services_of "$role"); do
    until grpc_health "$address" "$service"; do
      if ! kill -0 "${pid[$role]}" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        say "$role did not become healthy on $address${service:+ ($service)}; its log:"
        tail -n 20 "$dir/logs/$role.log" >&2
        stopping=1
        stop_all || true
        exit 1
      fi
      sleep 0.2
    done
  done
done

{
  echo "ROLES=\"${run[*]}\""
  grep -E "^($(IFS='|'; echo "${run[*]^^}"))_" "$dir/config/ports.env"
} > "$dir/endpoints.env.tmp"
mv "$dir/endpoints.env.tmp" "$dir/endpoints.env"

echo
echo "fanout topology: ${#run[@]} fanoutd processes with the chart's configs ($dir/config)"
for role in "${run[@]}"; do
  grpc=${role^^}_GRPC admin=${role^^}_ADMIN
  printf '  %-16s gRPC %-17s admin http://%s/readyz\n' "$role" "${!grpc}" "${!admin}"
done
if [[ " ${run[*]} " == *" gateway "* ]]; then
  echo "  REST             http://$GATEWAY_REST"
  echo "Try:"
  echo "  curl -s -X POST http://$GATEWAY_REST/v1/users -H 'content-type: application/json' -d '{\"name\": \"Ada\", \"email\": \"ada@example.com\"}'"
  echo "  curl -s http://$GATEWAY_REST/v1/users/1/dashboard"
fi
if [ -n "$jaeger_pid" ]; then
  echo "  Jaeger UI        http://127.0.0.1:$ui_port (traces of every request, service fanout-gateway)"
elif [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  echo "  traces           OTLP to $OTEL_EXPORTER_OTLP_ENDPOINT"
else
  echo "  traces           off (put jaeger-all-in-one on PATH or pass --jaeger PATH)"
fi
echo "  metrics          http://<admin>/metrics (Prometheus text)"
echo "Logs in $dir/logs. Ctrl-C stops them all."

# Until a signal, or until one role dies (then the others are stopped too).
while :; do
  wait -n "${pid[@]}" 2>/dev/null || true
  for role in "${!pid[@]}"; do
    if ! kill -0 "${pid[$role]}" 2>/dev/null; then
      say "$role exited on its own; its log:"
      tail -n 20 "$dir/logs/$role.log" >&2
      stopping=1
      stop_all || true
      exit 1
    fi
  done
done
