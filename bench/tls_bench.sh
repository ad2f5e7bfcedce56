#!/usr/bin/env bash
# What TLS costs a request on the gateway's doors: two gateways side by side
# in ONE run, one plaintext and one with TLS on REST and gRPC, on the same
# lab backend and the same load, for kept-alive and new connections.
#
#   bash bench/tls_bench.sh [build-dir] [seconds-per-step]   # defaults: build 8; ~3 min
#
# Processes (127.0.0.1, free ports, killed on exit):
#   backend  fanoutd, lab role, loops: 1 (plaintext; both gateways call it)
#   plain    fanoutd, gateway role, loops: 1, REST, gRPC and the frame relay
#            in plaintext
#   tls      fanoutd, gateway role, loops: 1, rest_tls and grpc_tls (a P-256
#            certificate made here with the openssl CLI); calls the backend
#            in plaintext, so the difference is the doors' TLS alone
#   wrk / h2load (the load)
#
# Steps, each run against plain then tls:
#   rest-keepalive  wrk, 8 connections, GET /v1/lab/echo?message=hi
#   rest-new        the same with `Connection: close`: a TCP connect (and a
#                   TLS handshake) per request
#   grpc-keepalive  h2load, 8 connections x 4 streams, Lab/Echo via the proxy
#   grpc-new        h2load, one request per connection (batches of 200)
#   relay-keepalive, relay-new   the same through the frame relay
#
# Printed per step and door: requests, req/s, and the gateway's CPU per
# request (utime + stime from /proc/PID/stat over the step / requests): the
# figure to compare on a shared machine. Failures (non-2xx, socket errors,
# h2load's failed/errored) are printed too and must be 0.
set -euo pipefail
build=${1:-build}
secs=${2:-8}
fanoutd=$build/services/fanoutd/fanoutd
[ -x "$fanoutd" ] || fanoutd=$build/fanoutd
[ -x "$fanoutd" ] || { echo "no fanoutd under $build" >&2; exit 1; }
fanoutd=$(realpath "$fanoutd")
for tool in wrk h2load openssl curl; do
  command -v $tool >/dev/null || { echo "needs $tool (apt: wrk nghttp2-client openssl curl)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/fanout-tls-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The certificate: a CA and a server certificate for localhost/127.0.0.1.
(cd "$dir" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=bench-ca -keyout ca.key -out ca.crt &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
    -keyout tls.key -out tls.csr &&
  echo "subjectAltName=DNS:localhost,IP:127.0.0.1" > ext &&
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -days 1 -extfile ext -out tls.crt) \
  > "$dir/openssl.log" 2>&1

B=$(free_port); PG=$(free_port); PR=$(free_port); TG=$(free_port); TR=$(free_port)
PL=$(free_port); TL=$(free_port)  # the frame relays
cat > "$dir/backend.yaml" <<EOF
node_name: backend
grpc_address: 127.0.0.1:$B
loops: 1
roles: {lab: true}
EOF
gateway_config() {  # name grpc-port rest-port tls(0/1) relay-port
  echo "node_name: $1"
  echo "grpc_address: 127.0.0.1:$2"
  echo "loops: 1"
  echo "roles: {gateway: true}"
  echo "backends: {lab: {target: \"127.0.0.1:$B\", services: [fanout.lab.v1.Lab]}}"
  echo "gateway: {rest_address: \"127.0.0.1:$3\", grpc_relay_address: \"127.0.0.1:$5\"$([ "$4" = 1 ] && echo ", rest_tls: {cert_file: $dir/tls.crt, key_file: $dir/tls.key}")}"
  [ "$4" = 1 ] && echo "grpc_tls: {cert_file: $dir/tls.crt, key_file: $dir/tls.key}"
  true
}
gateway_config plain "$PG" "$PR" 0 "$PL" > "$dir/plain.yaml"
gateway_config tls "$TG" "$TR" 1 "$TL" > "$dir/tls.yaml"
for node in backend plain tls; do
  "$fanoutd" --config "$dir/$node.yaml" > "$dir/$node.out" 2> "$dir/$node.log" &
  pids+=($!)
  declare "pid_$node=$!"
done
for i in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PR/v1/lab/echo?message=up" &&
    curl -sf -o /dev/null --cacert "$dir/ca.crt" "https://localhost:$TR/v1/lab/echo?message=up" \
      --resolve "localhost:$TR:127.0.0.1" && break
  sleep 0.1
done
# h2load counts an HTTP 200 carrying a gRPC error as a success: one reply
# through each gRPC door is read with curl and must carry grpc-status 0.
grpc_ok() {  # curl-options... url
  printf '\x00\x00\x00\x00\x04\x0a\x02hi' |
    curl -sS --max-time 5 -H 'content-type: application/grpc' -H 'te: trailers' \
      -D - -o /dev/null --data-binary @- "$@" | grep -q '^grpc-status: 0'
}
grpc_ok --http2-prior-knowledge "http://127.0.0.1:$PG/fanout.lab.v1.Lab/Echo" ||
  { echo "the plaintext gateway's gRPC door does not answer Lab/Echo" >&2; exit 1; }
grpc_ok --http2 --cacert "$dir/ca.crt" --resolve "localhost:$TG:127.0.0.1" \
  "https://localhost:$TG/fanout.lab.v1.Lab/Echo" ||
  { echo "the TLS gateway's gRPC door does not answer Lab/Echo" >&2; exit 1; }
grpc_ok --http2-prior-knowledge "http://127.0.0.1:$PL/fanout.lab.v1.Lab/Echo" ||
  { echo "the plaintext gateway's frame relay does not answer Lab/Echo" >&2; exit 1; }
grpc_ok --http2 --cacert "$dir/ca.crt" --resolve "localhost:$TL:127.0.0.1" \
  "https://localhost:$TL/fanout.lab.v1.Lab/Echo" ||
  { echo "the TLS gateway's frame relay does not answer Lab/Echo" >&2; exit 1; }

printf '\x00\x00\x00\x00\x04\x0a\x02hi' > "$dir/echo.bin"  # EchoRequest{message: "hi"}, framed
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# run STEP DOOR PID COMMAND...: runs the load, prints one line.
run() {
  local step=$1 door=$2 pid=$3; shift 3
  local before after out requests rate failures
  "$@" > /dev/null 2>&1 || true  # warm-up (a second's worth is enough)
  before=$(ticks "$pid")
  local t0=$(date +%s.%N)
  out=$("$@" 2>&1) || true
  local t1=$(date +%s.%N)
  after=$(ticks "$pid")
  if [[ $1 == wrk ]]; then
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    failures=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",","");n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
  else
    requests=$(awk '/^requests:/ {print $8}' <<<"$out")  # "succeeded"
    failures=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
  fi
  requests=${requests:-0}
  rate=$(awk -v n="$requests" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  local cpu_us=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$hz" \
    'BEGIN {if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-"}')
  printf '%-15s %-6s %9s req %8s req/s %8s us CPU/req  failures %s\n' \
    "$step" "$door" "$requests" "$rate" "$cpu_us" "$failures"
}

grpc_new() {  # one request per connection, $secs seconds of batches
  local url=$1 end=$((SECONDS + secs)) total=0 ok=0 bad=0 out
  while ((SECONDS < end)); do
    out=$(h2load -n 200 -c 200 -m 1 -t 1 --data="$dir/echo.bin" \
      -H 'content-type: application/grpc' -H 'te: trailers' "$url" 2>&1) || true
    ok=$((ok + $(awk '/^requests:/ {print $8}' <<<"$out")))
    bad=$((bad + $(awk '/^requests:/ {print $10 + $12}' <<<"$out")))
  done
  echo "requests: $ok total, $ok started, $ok done, $ok succeeded, $bad failed, 0 errored"
}

echo "# tls_bench: $secs s per step; gateway CPU per request (lower is better)"
for door in plain tls; do
  if [ $door = plain ]; then
    rest="http://127.0.0.1:$PR" grpc="http://127.0.0.1:$PG" relay="http://127.0.0.1:$PL"
    pid=$pid_plain
  else
    rest="https://127.0.0.1:$TR" grpc="https://127.0.0.1:$TG" relay="https://127.0.0.1:$TL"
    pid=$pid_tls
  fi
  run rest-keepalive $door $pid wrk -t1 -c8 -d${secs}s "$rest/v1/lab/echo?message=hi"
  run rest-new $door $pid wrk -t1 -c8 -d${secs}s -H "Connection: close" "$rest/v1/lab/echo?message=hi"
  run grpc-keepalive $door $pid h2load -D $secs -c 8 -m 4 -t 1 --data="$dir/echo.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$grpc/fanout.lab.v1.Lab/Echo"
  run grpc-new $door $pid grpc_new "$grpc/fanout.lab.v1.Lab/Echo"
  run relay-keepalive $door $pid h2load -D $secs -c 8 -m 4 -t 1 --data="$dir/echo.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$relay/fanout.lab.v1.Lab/Echo"
  run relay-new $door $pid grpc_new "$relay/fanout.lab.v1.Lab/Echo"
done
