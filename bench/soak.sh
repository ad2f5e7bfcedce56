#!/usr/bin/env bash
# Soak: the chart's topology (deploy/topology.sh: users, orders,
# recommendations and gateway, one fanoutd each) under mixed traffic for a
# while, each process's RSS, threads and fds and each role's loop lag
# sampled every second, then a summary (start, max, end) and the load's
# figures. Not in CI: it is long by design.
#
#   bash bench/soak.sh [build-dir] [minutes]      # defaults: build, 10
#
# Traffic, all through the gateway, paced, bounded by the run's length:
#   dashboards   GET /v1/users/{1,2}/dashboard        2 x 100/s  (http_load)
#   orders       POST /v1/users/3/orders              50/s       (http_load)
#   users        POST /v1/users                       10/s       (http_load)
#   watchers     WatchOrders{user_id: 3} over gRPC, proxied: 8 streams, each
#                reopened every 20 s (curl, HTTP/2)
#   proxy        Users/GetUser over gRPC, proxied     2 x 50/s   (h2load --rps)
# Everything listens on 127.0.0.1, on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
minutes=${2:-10}
fanoutd=$(realpath "$build/services/fanoutd/fanoutd")
load=$(realpath "$build/bench/http_load")
[ -x "$fanoutd" ] && [ -x "$load" ] || { echo "soak: build fanoutd and http_load first"; exit 1; }
command -v h2load >/dev/null || { echo "soak: h2load missing (apt-get install nghttp2-client)"; exit 1; }
secs=$((minutes * 60))
source deploy/grpc_curl.sh

tmp=$(mktemp -d)
dir=$tmp/topology
bg=()
set -m
bash deploy/topology.sh --fanoutd "$fanoutd" --base-port auto --rest-port auto --dir "$dir" \
  > "$tmp/topology.out" 2>&1 &
topology=$!
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
  kill -INT -- "-$topology" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  [ -f "$dir/endpoints.env" ] && break
  kill -0 "$topology" 2>/dev/null || { cat "$tmp/topology.out"; exit 1; }
  sleep 0.2
done
source "$dir/endpoints.env"
rest=${GATEWAY_REST##*:}
declare -A pid
for role in $ROLES; do pid[$role]=$(pgrep -f -- "--config $dir/config/$role.yaml"); done
for i in 1 2 3; do
  curl -sf -o /dev/null -X POST "http://$GATEWAY_REST/v1/users" -H 'content-type: application/json' \
    -d "{\"name\": \"soak-$i\", \"email\": \"soak-$i@example.com\"}"
done
echo "soak: $ROLES for $minutes min on $(nproc) cores ($(date -u +%F)), sampling every second"

# --- load ---------------------------------------------------------------------
for id in 1 2; do
  "$load" --port="$rest" --path="/v1/users/$id/dashboard" --connections=4 --rate=100 \
    --seconds="$secs" > "$tmp/dashboard-$id.out" 2>&1 &
  bg+=($!)
done
"$load" --port="$rest" --method=POST --path=/v1/users/3/orders --connections=2 --rate=50 \
  --body='{"item": "soak-{n}", "quantity": 1, "amountCents": 100}' --seconds="$secs" \
  > "$tmp/orders.out" 2>&1 &
bg+=($!)
"$load" --port="$rest" --method=POST --path=/v1/users --connections=1 --rate=10 \
  --body='{"name": "user-{n}", "email": "user-{n}@example.com"}' --seconds="$secs" \
  > "$tmp/users.out" 2>&1 &
bg+=($!)
grpc_frame 0801 > "$tmp/getuser.bin"
h2load -D "$secs" -c 2 -m 1 --rps 50 --data="$tmp/getuser.bin" -H 'content-type: application/grpc' \
  -H 'te: trailers' "http://$GATEWAY_GRPC/fanout.users.v1.Users/GetUser" > "$tmp/proxy.out" 2>&1 &
bg+=($!)
end=$((SECONDS + secs))
for w in $(seq 1 8); do
  (
    opened=0 orders=0
    while [ $SECONDS -lt $end ]; do
      bytes=$(grpc_frame 0803 | curl -s --http2-prior-knowledge --max-time 20 \
        -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @- \
        "http://$GATEWAY_GRPC/fanout.orders.v1.Orders/WatchOrders" | wc -c) || true
      opened=$((opened + 1)) orders=$((orders + bytes))
    done
    echo "$opened $orders" > "$tmp/watch-$w.out"
  ) &
  bg+=($!)
done

# --- sampling -------------------------------------------------------------------
lag() {  # role admin-address: sets lag_ms, the mean loop lag (ms) since the last call
  local sum count now prev
  read -r sum count <<<"$(curl -sf "http://$2/metrics" | awk '
    /^fanout_loop_lag_seconds_sum/ {s += $NF} /^fanout_loop_lag_seconds_count/ {c += $NF}
    END {printf "%.9f %d\n", s, c}')"
  now="$sum $count"
  prev=${last_lag[$1]:-$now}
  last_lag[$1]=$now
  lag_ms=$(awk -v a="$prev" -v b="$now" 'BEGIN {split(a, x, " "); split(b, y, " ");
    dc = y[2] - x[2]; printf "%.3f", (dc > 0 ? (y[1] - x[1]) / dc * 1000 : 0)}')
}
declare -A last_lag first maxv lastv
record() {  # key value
  [ -n "${first[$1]:-}" ] || first[$1]=$2
  lastv[$1]=$2
  if [ -z "${maxv[$1]:-}" ] || awk -v a="$2" -v b="${maxv[$1]}" 'BEGIN {exit !(a > b)}'; then
    maxv[$1]=$2
  fi
}
while [ $SECONDS -lt $end ]; do
  for role in $ROLES; do
    p=${pid[$role]}
    [ -d "/proc/$p" ] || { echo "soak: $role (pid $p) is gone"; exit 1; }
    record "$role rss_mb" "$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$p/status")"
    record "$role threads" "$(ls "/proc/$p/task" | wc -l)"
    record "$role fds" "$(ls "/proc/$p/fd" | wc -l)"
    admin=${role^^}_ADMIN
    lag "$role" "${!admin}"
    record "$role lag_ms" "$lag_ms"
  done
  sleep 1
done
for p in "${bg[@]}"; do wait "$p" || true; done
bg=()

# --- summary ----------------------------------------------------------------------
echo
printf '%-28s %10s %10s %10s\n' "process, figure" start max end
for role in $ROLES; do
  for figure in rss_mb threads fds lag_ms; do
    printf '%-28s %10s %10s %10s\n' "$role $figure" "${first[$role $figure]}" \
      "${maxv[$role $figure]}" "${lastv[$role $figure]}"
  done
done
echo
for f in dashboard-1 dashboard-2 orders users; do
  echo "$f: $(sed -n 's/^http_load-summary: //p' "$tmp/$f.out")"
done
echo "proxy (h2load): $(grep -E '^requests:' "$tmp/proxy.out")"
opened=0 bytes=0
for w in $(seq 1 8); do read -r o b < "$tmp/watch-$w.out"; opened=$((opened + o)) bytes=$((bytes + b)); done
echo "watchers: 8 streams, $opened opened in all, $bytes bytes of orders streamed"
