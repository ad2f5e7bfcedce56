#!/usr/bin/env bash
# A static bulkhead against adaptive_concurrency on a backend whose calls
# mix fast and slow ones (bench/README.md, "Adaptive by default?"): a lab
# backend and a gateway (`loops: 1` each, every default but the switch);
# half the callers ask for delay_ms=0, half for delay_ms=50, closed loop.
# Prints each load's summary and the limit scraped every 0.5 s. Traffic
# stays on 127.0.0.1; each run takes `seconds` (default 10).
#
#   bash bench/adaptive_mixed.sh [build-dir] [seconds] [connections-per-kind]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
secs=${2:-10}
conns=${3:-32}
fanoutd=$build/services/fanoutd/fanoutd
load=$build/bench/http_load
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() {  # static | adaptive
  local mode=$1 extra=""
  [ "$mode" = adaptive ] && extra=", adaptive_concurrency: {enabled: true}"
  local lab=$(free_port) grpc=$(free_port) admin=$(free_port) rest=$(free_port)
  printf 'node_name: lab\ngrpc_address: 127.0.0.1:%s\nloops: 1\nroles: {lab: true}\nlog: {level: WARNING}\n' \
    "$lab" > "$tmp/lab.yaml"
  cat > "$tmp/gateway.yaml" <<YAML
node_name: gateway
grpc_address: 127.0.0.1:$grpc
admin_address: 127.0.0.1:$admin
loops: 1
roles: {gateway: true}
log: {level: WARNING}
backends:
  lab: {target: "127.0.0.1:$lab", services: [fanout.lab.v1.Lab]$extra}
gateway: {rest_address: "127.0.0.1:$rest"}
YAML
  "$fanoutd" --config "$tmp/lab.yaml" > "$tmp/lab.log" 2>&1 & pids+=($!)
  "$fanoutd" --config "$tmp/gateway.yaml" > "$tmp/gateway.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do
    curl -sf "127.0.0.1:$rest/v1/lab/echo?message=up" >/dev/null && break
    sleep 0.1
  done
  ( while :; do
      curl -s "127.0.0.1:$admin/metrics" |
        sed -n 's/^fanout_gateway_bulkhead_permits{backend="lab"} \([0-9.]*\)$/\1/p'
      sleep 0.5
    done ) > "$tmp/limit.txt" &
  local sampler=$!
  "$load" --ports="$rest" --path='/v1/lab/echo?message=f&delay_ms=0' --connections="$conns" \
    --seconds="$secs" --timeout-ms=5000 > "$tmp/fast.out" 2>&1 &
  local fast=$!
  "$load" --ports="$rest" --path='/v1/lab/echo?message=s&delay_ms=50' --connections="$conns" \
    --seconds="$secs" --timeout-ms=5000 > "$tmp/slow.out" 2>&1 &
  local slow=$!
  wait "$fast" "$slow"
  kill "$sampler" "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
  echo "== $mode"
  echo "delay 0:  $(sed -n 's/^http_load-summary: //p' "$tmp/fast.out")"
  echo "delay 50: $(sed -n 's/^http_load-summary: //p' "$tmp/slow.out")"
  echo "limit:    $(tr '\n' ' ' < "$tmp/limit.txt")"
}
run static
run adaptive
