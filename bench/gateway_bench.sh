#!/usr/bin/env bash
# The gateway's benchmarks, side by side in one run on this machine:
#   1. overhead: the lab Echo called directly (gRPC, h2load) vs through the
#      gateway's gRPC proxy (h2load) and its REST route (wrk);
#   2. fan-out: three 100 ms calls as concurrent parts vs as a dependent chain;
#   3. overload: 10x the sustainable rate at a route with an in-flight limit;
#      accepted and shed requests reported apart, gateway memory before/after.
# Two fanoutd processes: a lab backend and a gateway-only node. Traffic stays
# on 127.0.0.1 and every step is bounded in time.
#
#   bash bench/gateway_bench.sh [build-dir] [seconds-per-step]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-5}
fanoutd=$build/services/fanoutd/fanoutd
load=$build/bench/http_load
for tool in h2load wrk; do
  command -v $tool >/dev/null || { echo "gateway_bench: $tool missing (bash deploy/setup.sh)"; exit 1; }
done
[ -x "$fanoutd" ] && [ -x "$load" ] || { echo "gateway_bench: build fanoutd and http_load first"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
B=$(free_port); G=$(free_port); R=$(free_port)

cat > "$tmp/backend.yaml" <<YAML
node_name: bench-lab
grpc_address: 127.0.0.1:$B
loops: 1
roles: {lab: true}
log: {level: WARNING}
YAML
cat > "$tmp/gateway.yaml" <<YAML
node_name: bench-gateway
grpc_address: 127.0.0.1:$G
loops: 1
roles: {gateway: true}
log: {level: WARNING}
backends:
  lab: {target: "127.0.0.1:$B", max_concurrent_calls: 2000, max_queued_calls: 2000, services: [fanout.lab.v1.Lab]}
gateway:
  rest_address: 127.0.0.1:$R
  max_in_flight: 20000
  routes:
    - {name: echo, path: /echo, respond_with: e, calls: [{name: e, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {message: query.m}}]}
    - name: fanout3
      path: /fanout3
      calls:
        - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100"}}
        - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100"}}
        - {name: c, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100"}}
    - name: chain3
      path: /chain3
      calls:
        - {name: a, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100"}}
        - {name: b, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100", message: parts.a.message}}
        - {name: c, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=100", message: parts.b.message}}
    - {name: slow, path: /slow, max_in_flight: 32, timeout_ms: 1000, respond_with: e,
       calls: [{name: e, backend: lab, method: fanout.lab.v1.Lab/Echo, request: {delay_ms: "=20"}}]}
YAML
"$fanoutd" --config "$tmp/backend.yaml" >"$tmp/backend.out" 2>"$tmp/backend.log" & backend=$!; pids+=($backend)
"$fanoutd" --config "$tmp/gateway.yaml" >"$tmp/gateway.out" 2>"$tmp/gateway.log" & gw=$!; pids+=($gw)
for i in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$R/echo?m=up" && break
  sleep 0.1
done

# The gRPC request frame for Echo{message: "hi"}: flag 0, length 4, bytes.
printf '\x00\x00\x00\x00\x04\x0a\x02hi' > "$tmp/echo.bin"
h2() {  # target-port label [connections streams]: requests/s, p50, p99 from h2load's per-request log
  local port=$1 label=$2 c=${3:-8} m=${4:-4}
  h2load -D "$secs" -c "$c" -m "$m" -t 1 --data="$tmp/echo.bin" -H 'content-type: application/grpc' \
    -H 'te: trailers' --log-file="$tmp/$label.log" \
    "http://127.0.0.1:$port/fanout.lab.v1.Lab/Echo" > "$tmp/$label.out"
  local rps ok
  rps=$(awk '/^finished in/ {gsub(",",""); print $4}' "$tmp/$label.out")
  ok=$(awk '/^requests:/ {print $8}' "$tmp/$label.out")
  sort -n -k3 "$tmp/$label.log" | awk -v rps="$rps" -v ok="$ok" -v label="$label" \
    '{a[NR]=$3} END {printf "  %-22s %9s req/s  p50 %7.3f ms  p99 %7.3f ms  (%s succeeded)\n", label, rps, a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000, ok}'
}
rest() {  # path label connections
  wrk -t1 -c"$3" -d"${secs}s" --latency "http://127.0.0.1:$R$1" > "$tmp/$2.wrk"
  awk -v label="$2" '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END {printf "  %-22s %9s req/s  p50 %9s  p99 %9s  non-2xx %s\n", label, rps, p50, p99, bad+0}' "$tmp/$2.wrk"
}
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$gw/status"; }
# CPU seconds (user + system) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# h2 with each process's CPU per request: what the gateway costs per call,
# against what the backend costs, whatever else shares the cores.
h2_cpu() {  # port label
  local b0 g0 n
  b0=$(ticks "$backend"); g0=$(ticks "$gw")
  h2 "$1" "$2"
  n=$(awk '/^requests:/ {print $8}' "$tmp/$2.out")
  awk -v b="$(( $(ticks "$backend") - b0 ))" -v g="$(( $(ticks "$gw") - g0 ))" -v n="$n" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "  %-22s CPU per request: backend %.1f us, gateway %.1f us\n", "", b / hz / n * 1e6, g / hz / n * 1e6}'
}

echo "gateway_bench: $(nproc) cores, $(date -u +%F), ${secs}s per step"
echo "1. overhead (Echo, 8 connections x 4 streams for gRPC, 8 connections for REST)"
h2_cpu "$B" "gRPC direct"
h2_cpu "$G" "gRPC via gateway proxy"
rest "/echo?m=hi" "REST via gateway" 8
echo "   one request at a time (added latency = via gateway - direct)"
h2 "$B" "gRPC direct c=1" 1 1
h2 "$G" "gRPC via proxy c=1" 1 1
rest "/echo?m=hi" "REST via gateway c=1" 1
echo "2. fan-out of three 100 ms calls (4 connections)"
rest /fanout3 "concurrent parts" 4
rest /chain3 "dependent chain" 4
echo "3. overload: /slow (20 ms, max_in_flight 32: ~1600/s sustainable) offered 16000/s"
echo "  gateway RSS before: $(rss)"
"$load" --port="$R" --path=/slow --connections=200 --rate=16000 --seconds="$secs" | sed 's/^/  /'
echo "  gateway RSS after:  $(rss)"
"$load" --port="$R" --path=/slow --connections=200 --rate=16000 --seconds="$secs" | sed 's/^/  /'
echo "  gateway RSS after a second round: $(rss)"
