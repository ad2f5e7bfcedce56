#!/usr/bin/env bash
# Peers: the fanout gateway beside nginx, HAProxy and nghttpx, one core's
# worth each, in ONE run, on the same lab backend and the same load.
#
#   bash bench/peers.sh [build-dir] [seconds-per-step] [rounds]
#                          # defaults: build 8 3; ~150 s a round
#                          # (~195 s with PEERS_COMPARE)
#   PEERS_PERF=1 bash bench/peers.sh ...   # also perf-records the gateway in its
#                                          # steps and prints its top symbols
#   PEERS_PRELOAD=/path/to/libtcmalloc_minimal.so.4 bash bench/peers.sh ...
#                                          # the gateway on another allocator
#   PEERS_COMPARE=other-build bash bench/peers.sh ...
#                                          # a second gateway, from other-build,
#                                          # beside the first: before/after
#
# build-dir holds fanoutd as services/fanoutd/fanoutd (a build tree, or a copy
# with the same layout) or as ./fanoutd (a flat copy).
#
# Processes (all on 127.0.0.1, random free ports, all killed on exit):
#   backend   fanoutd, lab role only, `loops: 1`            pinned to CPU 0
#   nginx     grpc_pass, 1 worker, keepalive to the backend  pinned to CPU 1
#   haproxy   h2 in, h2 out, nbthread 1                      pinned to CPU 1
#   nghttpx   nghttp2's proxy, h2 in, h2 out, 1 worker       pinned to CPU 1
#   gateway   fanoutd, gateway role only, `loops: 1`,        pinned to CPU 1
#             backend = the lab node, built-in routes
#   h2load / wrk (the load)                                  pinned to CPU 0
#   gateway-cmp with PEERS_COMPARE: the same gateway from the other build,
#             its own ports                                  pinned to CPU 1
#   go-agg    bench/peers/rest_fanout.go: the gateway's two REST GET routes
#             written in Go (net/http, grpc-go, protojson),
#             GOMAXPROCS=1                                   pinned to CPU 1
#   py-agg    bench/peers/rest_fanout.py: the same in Python asyncio
#             (aiohttp, grpc.aio, asyncio.gather)            pinned to CPU 1
#   h2-agg    bench/peers/rest_fanout_h2.cc: the same two routes in C++ on
#             one thread, epoll and nghttp2, with none of a gateway's
#             protection or telemetry: the floor of the work  pinned to CPU 1
# The proxies share CPU 1 but take turns: only the one under test has load.
# Backend and load generator share CPU 0, so req/s is bounded by that core
# as much as by the proxy: CPU per request (utime + stime from
# /proc/PID/stat over the step, divided by the requests answered) is the
# figure to compare, not req/s.
#
# Rounds: every step runs once a round, the steps in the same order each
# round (but for PEERS_COMPARE's pairs, swapped every round), and the
# tables give each figure's median over the rounds (CPU per request also
# its range). On a shared VM one step's CPU per request moves
# by up to 40% from one minute to the next (bench/README.md, "Peers"); the
# median of three interleaved rounds moves by a fraction of that. Each
# ratio is taken within a round (the two steps a round apart at most, one
# after the other for PEERS_COMPARE's), and the table gives the median of
# those and their range.
#
# Steps (every step: a short warm-up, then $secs seconds; gRPC by h2load,
# 8 connections x 4 streams, REST by wrk, 8 connections):
#   direct        Lab/Echo on the backend itself
#   nginx         Lab/Echo through nginx grpc_pass
#   haproxy       Lab/Echo through HAProxy
#   nghttpx       Lab/Echo through nghttpx: what relaying HTTP/2 frames with
#                 nghttp2 costs, the alternative to ending each gRPC call in
#                 gRPC core and making a new one (bench/README.md, "Where
#                 the proxy's CPU goes")
#   gw-known      Lab/Echo through the gateway's gRPC proxy. Echo is compiled
#                 into fanoutd, so ServiceProxy takes ProxyUnary (one message
#                 each way through the backend's bulkhead, one WriteAndFinish).
#   direct-stream Lab/Stream{count: 1} on the backend itself (baseline for:)
#   gw-generic    Lab/Stream{count: 1} through the gateway. Every method the
#                 gateway knows is compiled in, and the lab serves no unary
#                 method the gateway does not know, so the generic path is
#                 reached with the lab's server-streaming method asked for one
#                 message: streaming -> ProxyCall (the generic byte relay, as
#                 for an unknown type). On the wire it is one request, one
#                 message, trailers: h2load drives it like a unary call. The
#                 backend's Stream handler costs a little more than Echo
#                 (see direct-stream). The script checks the path taken: the
#                 gateway's fanout_gateway_backend_attempts_total (counted by
#                 Backend::Call, which ProxyUnary uses and ProxyCall does not)
#                 must move by N in gw-known and by 0 in gw-generic.
#   rest-echo     GET /v1/lab/echo?message=hi (built-in route: one Echo, JSON out)
#   rest-post     POST /v1/fanout.lab.v1.Lab/Echo, body {"message":"hi"}
#                 (any unary method by name: JSON in, JSON out)
#   rest-fanout3  GET /v1/lab/fanout (built-in route: three Echo calls at once)
#   go-echo, go-fanout3, py-echo, py-fanout3
#                 GET /v1/lab/echo and /v1/lab/fanout on the Go and the Python
#                 aggregator: the same calls, the same JSON (lowerCamelCase,
#                 unpopulated fields printed), what a team would otherwise
#                 write by hand. The fan-out targets are read against them.
#   h2-echo, h2-fanout3
#                 The same on the C++ floor: what the HTTP/1.1 request, the
#                 three HTTP/2 calls and the JSON cost with nothing else, so
#                 the fan-out target (2.5x the backend's Echo) can be read
#                 against what any aggregator must spend.
#   *-cmp         With PEERS_COMPARE, each gateway step again on the other
#                 build's gateway, right before or after its twin (the order
#                 swapped every round), and a ratio per round of the two:
#                 the before/after of a change, one core, one load, one
#                 step after the other.
#   beside        After the rounds, once per gateway: GET /v1/lab/echo by one
#                 caller (wrk -c1) while h2load keeps the same gateway's gRPC
#                 door saturated. The REST latency of a loop that always has
#                 other work (its HTTP thread yields to the loop on wake-up,
#                 and the loop gives up its core after a millisecond
#                 without sleeping).
#
# Success checks (h2load counts an HTTP 200 carrying a gRPC error as a
# success): one reply per gRPC target sampled with a real HTTP/2 client
# (deploy/grpc_curl.sh: reply decoded, grpc-status 0); h2load's status
# counts (all 2xx, none failed or errored); wrk's non-2xx and socket errors;
# and the backend's own counts (fanout_rpc_server_duration_seconds_count on
# its admin port): Lab calls answered OK moved by at least the requests
# answered (times 3 for the fan-out; a few more are those in flight when the
# load stopped) and no Lab call answered anything else. The gateway's gRPC
# door is checked the same way on its own admin port.
#
# Installs nghttp2-client (h2load), nghttp2-proxy (nghttpx), wrk, nginx,
# haproxy, and for the aggregators Go with Debian's grpc-go and protobuf
# sources, Python's aiohttp and grpcio, g++ and the nghttp2, protobuf and
# Abseil headers, with apt when missing (services are not started by the install: a
# policy-rc.d that refuses is put in place for it when the machine has
# none). Not part of deploy/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-8}
rounds=${3:-3}
find_fanoutd() {  # build-dir
  local f=$1/services/fanoutd/fanoutd
  [ -x "$f" ] || f=$1/fanoutd
  [ -x "$f" ] || { echo "peers: no fanoutd in $1 (services/fanoutd/fanoutd or ./fanoutd)" >&2; return 1; }
  realpath "$f"
}
fanoutd=$(find_fanoutd "$build")
compare=${PEERS_COMPARE:+$(find_fanoutd "$PEERS_COMPARE")}

# --- tools ---------------------------------------------------------------
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v nghttpx >/dev/null || [ -x /usr/sbin/nghttpx ] || need+=(nghttp2-proxy)
command -v taskset >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# The aggregators: Go in GOPATH mode over Debian's sources (grpc-go 1.33
# needs github.com/golang/protobuf 1.5 to carry protoc-gen-go's messages),
# Python with Debian's modules (/usr/bin/python3, not a pyenv's).
for pkg in golang-go golang-google-grpc-dev golang-google-protobuf-dev \
           golang-github-golang-protobuf-1-5-dev python3-aiohttp python3-grpcio python3-protobuf \
           g++ pkg-config libnghttp2-dev libprotobuf-dev libabsl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "peers: installing ${need[*]} (apt)"
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
export PATH=$PATH:/usr/sbin
source deploy/grpc_curl.sh

# --- pinning -------------------------------------------------------------
if [ "$(nproc)" -ge 2 ]; then
  pin_proxy=(taskset -c 1)   # the proxy under test: a core of its own
  pin_load=(taskset -c 0)    # backend + load generator: the other core
else
  pin_proxy=(); pin_load=()
  echo "peers: one core only, nothing pinned"
fi

# --- processes -----------------------------------------------------------
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 30); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
B=$(free_port); BA=$(free_port); N=$(free_port); H=$(free_port); X=$(free_port)
G=$(free_port); GA=$(free_port); R=$(free_port); GR=$(free_port)
G2=$(free_port); GA2=$(free_port); R2=$(free_port); GR2=$(free_port)   # the compared gateway's
GO=$(free_port); PY=$(free_port); H2=$(free_port)     # the aggregators'

# --- the aggregators, built ---------------------------------------------------
# Go: protoc-gen-go and protoc-gen-go-grpc from Debian's sources, the lab's
# messages and client from them, then the aggregator. Python: the lab's
# messages by protoc --python_out. The C++ floor: g++ -O2, the lab's
# messages by protoc --cpp_out.
build_aggregators() {  # every step or none: && (set -e is off under "if !")
  local gopath=$tmp/go lab=fanout/lab/v1/lab.proto m=Mfanout/lab/v1/lab.proto=fanoutpeer/labpb
  mkdir -p "$gopath/src/fanoutpeer/restfanout" "$gopath/bin" "$tmp/py" &&
  export GO111MODULE=off GOPATH=$gopath:/usr/share/gocode GOCACHE=$tmp/go-cache GOFLAGS= &&
  go build -o "$gopath/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go &&
  go build -o "$gopath/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc &&
  PATH=$gopath/bin:$PATH protoc -I proto --go_out="$gopath/src" --go_opt="$m" \
    --go-grpc_out="$gopath/src" --go-grpc_opt="$m" "$lab" &&
  cp bench/peers/rest_fanout.go "$gopath/src/fanoutpeer/restfanout/main.go" &&
  go build -o "$tmp/rest_fanout" fanoutpeer/restfanout &&
  protoc -I proto --python_out="$tmp/py" "$lab" &&
  mkdir -p "$tmp/cc" && protoc -I proto --cpp_out="$tmp/cc" "$lab" &&
  g++ -std=c++20 -O2 -I"$tmp/cc" -I. bench/peers/rest_fanout_h2.cc "$tmp/cc/fanout/lab/v1/lab.pb.cc" \
    node/base/json_string.cc -o "$tmp/rest_fanout_h2" -lnghttp2 -lprotobuf -lpthread \
    $(pkg-config --cflags --libs absl_strings absl_str_format)
}
if ! build_aggregators >"$tmp/aggregators.log" 2>&1; then
  echo "peers: building the aggregators failed:"; tail -n 20 "$tmp/aggregators.log"; exit 1
fi

# Connections kept for the whole run (the defaults send GOAWAY after 2 min
# idle and 5 min of age): the C++ floor keeps one and does not reconnect.
cat > "$tmp/backend.yaml" <<YAML
node_name: peers-lab
grpc_address: 127.0.0.1:$B
admin_address: 127.0.0.1:$BA
loops: 1
roles: {lab: true}
log: {level: WARNING}
grpc_server: {max_connection_idle_ms: 3600000, max_connection_age_ms: 3600000}
YAML
# No routes: the built-in ones (lab-echo, lab-fanout; those needing other
# backends are left out).
gateway_yaml() {  # grpc-port admin-port rest-port
  cat <<YAML
node_name: peers-gateway
grpc_address: 127.0.0.1:$1
admin_address: 127.0.0.1:$2
loops: 1
roles: {gateway: true}
log: {level: WARNING}
backends:
  lab: {target: "127.0.0.1:$B", max_concurrent_calls: 2000, max_queued_calls: 2000, services: [fanout.lab.v1.Lab]}
gateway:
  rest_address: 127.0.0.1:$3
  max_in_flight: 20000
YAML
}
gateway_yaml "$G" "$GA" "$R" > "$tmp/gateway.yaml"
# The frame relay on this build's gateway only, and only when the build
# knows the key (an older one, measured as "this" with the builds swapped,
# does not): then the relay step is skipped.
relay=
if "$fanoutd" --print-default-config | grep -q grpc_relay_address; then
  relay=1
  echo "  grpc_relay_address: 127.0.0.1:$GR" >> "$tmp/gateway.yaml"
fi
gateway_yaml "$G2" "$GA2" "$R2" > "$tmp/gateway-cmp.yaml"
relay2=
if [ -n "$relay" ] && [ -n "$compare" ] && "$compare" --print-default-config | grep -q grpc_relay_address; then
  relay2=1
  echo "  grpc_relay_address: 127.0.0.1:$GR2" >> "$tmp/gateway-cmp.yaml"
fi
mkdir -p "$tmp/nginx"
# keepalive_requests high on both sides (nginx closes a connection after 1000
# requests otherwise); grpc_pass uses one upstream connection per stream in
# flight, so the upstream keepalive pool holds more than the 32 in flight.
cat > "$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream lab {
    server 127.0.0.1:$B;
    keepalive 128;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:$N http2;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    location / { grpc_pass grpc://lab; }
  }
}
NGINX
# maxconn within the fd limit (HAProxy refuses to start otherwise): two fds
# a connection, and some to spare.
nofile=$(ulimit -n)
maxconn=$(( (nofile - 200) / 2 )); [ "$maxconn" -gt 4000 ] && maxconn=4000
cat > "$tmp/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn $maxconn
defaults
  mode http
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  http-reuse always
frontend grpc
  bind 127.0.0.1:$H proto h2
  default_backend lab
backend lab
  server lab1 127.0.0.1:$B proto h2
HAPROXY

"${pin_load[@]}" "$fanoutd" --config "$tmp/backend.yaml" >"$tmp/backend.out" 2>"$tmp/backend.log" &
backend=$!; pids+=($backend)
# PEERS_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 (or jemalloc's):
# the gateway with another allocator.
env ${PEERS_PRELOAD:+LD_PRELOAD="$PEERS_PRELOAD"} "${pin_proxy[@]}" "$fanoutd" --config "$tmp/gateway.yaml" \
  >"$tmp/gateway.out" 2>"$tmp/gateway.log" &
gw=$!; pids+=($gw)
if [ -n "$compare" ]; then
  env ${PEERS_PRELOAD:+LD_PRELOAD="$PEERS_PRELOAD"} "${pin_proxy[@]}" "$compare" \
    --config "$tmp/gateway-cmp.yaml" >"$tmp/gateway-cmp.out" 2>"$tmp/gateway-cmp.log" &
  gw2=$!; pids+=($gw2)
fi
"${pin_proxy[@]}" nginx -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx.out" 2>&1 &
nginx_master=$!; pids+=($nginx_master)
"${pin_proxy[@]}" haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.out" 2>&1 &
hap=$!; pids+=($hap)
"${pin_proxy[@]}" nghttpx --conf=/dev/null --frontend="127.0.0.1,$X;no-tls" \
  --backend="127.0.0.1,$B;;proto=h2" --workers=1 --no-ocsp --errorlog-file="$tmp/nghttpx.log" \
  --accesslog-file=/dev/null >"$tmp/nghttpx.out" 2>&1 &
nghttpx_main=$!; pids+=($nghttpx_main)
GOMAXPROCS=1 "${pin_proxy[@]}" "$tmp/rest_fanout" -listen "127.0.0.1:$GO" -backend "127.0.0.1:$B" \
  >"$tmp/go-agg.out" 2>&1 &
go_agg=$!; pids+=($go_agg)
PYTHONPATH=$tmp/py "${pin_proxy[@]}" /usr/bin/python3 bench/peers/rest_fanout.py "127.0.0.1:$PY" \
  "127.0.0.1:$B" >"$tmp/py-agg.out" 2>&1 &
py_agg=$!; pids+=($py_agg)
"${pin_proxy[@]}" "$tmp/rest_fanout_h2" "127.0.0.1:$H2" "127.0.0.1:$B" >"$tmp/h2-agg.out" 2>&1 &
h2_agg=$!; pids+=($h2_agg)

echo_hex=$(grpc_string_field 0a hi)            # EchoRequest{message: "hi"}
stream_hex=${echo_hex}1001                     # StreamRequest{message: "hi", count: 1}
up=0
for _ in $(seq 100); do
  if GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$B" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
     GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$G" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
     { [ -z "$relay" ] || GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$GR" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1; } &&
     GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$N" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
     GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$H" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
     GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$X" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
     curl -sf -o /dev/null "http://127.0.0.1:$R/v1/lab/echo?message=up" &&
     curl -sf -o /dev/null "http://127.0.0.1:$GO/v1/lab/echo?message=up" &&
     curl -sf -o /dev/null "http://127.0.0.1:$PY/v1/lab/echo?message=up" &&
     curl -sf -o /dev/null "http://127.0.0.1:$H2/v1/lab/echo?message=up" &&
     { [ -z "$compare" ] ||
       { GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$G2" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1 &&
         curl -sf -o /dev/null "http://127.0.0.1:$R2/v1/lab/echo?message=up" &&
         { [ -z "$relay2" ] || GRPC_CURL_TIMEOUT=1 grpc_call "127.0.0.1:$GR2" fanout.lab.v1.Lab/Echo "$echo_hex" >/dev/null 2>&1; }; }; }; then
    up=1; break
  fi
  sleep 0.1
done
if [ $up = 0 ]; then
  echo "peers: not everything came up"
  tail -n 5 "$tmp"/*.log "$tmp"/*.out "$tmp/nginx/error.log" 2>/dev/null
  exit 1
fi
nginx_pids=("$nginx_master" $(pgrep -P "$nginx_master"))
pids+=("${nginx_pids[@]:1}")
nghttpx_pids=("$nghttpx_main" $(pgrep -P "$nghttpx_main"))   # main and worker processes
pids+=("${nghttpx_pids[@]:1}")

# --- one reply each, with a real client ------------------------------------
# The reply's message field must come back as "hi" (0a026869), grpc-status 0.
sample() {  # address method hex label
  local reply
  reply=$(grpc_call "$1" "$2" "$3") || { echo "peers: $4: $2 failed"; exit 1; }
  case $reply in 0a026869*) ;; *) echo "peers: $4: unexpected reply $reply"; exit 1 ;; esac
  echo "  sample $4: grpc-status 0, reply ${reply:0:40}..."
}
echo "peers: $(nproc) cores, $(date -u +%F), ${secs}s per step, $rounds rounds, fanoutd $fanoutd"
[ -z "$compare" ] || echo "  compared with (the *-cmp steps): $compare"
echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg) (anything else on these cores moves req/s more than CPU per request)"
echo "  $(nginx -v 2>&1); $(haproxy -v | head -1); $(nghttpx --version | head -1); $(h2load --version | head -1); $(wrk -v 2>&1 | head -1)"
sample "127.0.0.1:$B" fanout.lab.v1.Lab/Echo "$echo_hex" "direct"
sample "127.0.0.1:$N" fanout.lab.v1.Lab/Echo "$echo_hex" "nginx"
sample "127.0.0.1:$H" fanout.lab.v1.Lab/Echo "$echo_hex" "haproxy"
sample "127.0.0.1:$X" fanout.lab.v1.Lab/Echo "$echo_hex" "nghttpx"
sample "127.0.0.1:$G" fanout.lab.v1.Lab/Echo "$echo_hex" "gateway Echo"
if [ -n "$relay" ]; then
  sample "127.0.0.1:$GR" fanout.lab.v1.Lab/Echo "$echo_hex" "gateway relay Echo"
  sample "127.0.0.1:$GR" fanout.lab.v1.Lab/Stream "$stream_hex" "gateway relay Stream"
fi
sample "127.0.0.1:$B" fanout.lab.v1.Lab/Stream "$stream_hex" "direct Stream"
sample "127.0.0.1:$G" fanout.lab.v1.Lab/Stream "$stream_hex" "gateway Stream"
[ -z "$compare" ] || sample "127.0.0.1:$G2" fanout.lab.v1.Lab/Echo "$echo_hex" "compared gateway Echo"
for path in "/v1/lab/echo?message=hi" "/v1/lab/fanout"; do
  echo "  sample GET $path: $(curl -sS "http://127.0.0.1:$R$path" | head -c 160)"
  echo "    Go aggregator:     $(curl -sS "http://127.0.0.1:$GO$path" | head -c 160)"
  echo "    Python aggregator: $(curl -sS "http://127.0.0.1:$PY$path" | head -c 160)"
  echo "    C++ floor:         $(curl -sS "http://127.0.0.1:$H2$path" | head -c 160)"
done
echo "  sample POST /v1/fanout.lab.v1.Lab/Echo: $(curl -sS -X POST -H 'content-type: application/json' \
  -d '{"message":"hi"}' "http://127.0.0.1:$R/v1/fanout.lab.v1.Lab/Echo" | head -c 160)"

# --- measuring -------------------------------------------------------------
hz=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo $t; }
# Lab calls the backend (or the gateway's gRPC door) answered:
# "ok cancelled other". Calls still in flight when h2load or wrk stops are
# CANCELLED: at most the 32 in flight (times the calls per request).
served() {  # admin-port service
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v svc="service=\"$2\"" '
    /^fanout_rpc_server_duration_seconds_count\{/ && index($0, svc) {
      if (index($0, "code=\"OK\"")) ok += $NF
      else if (index($0, "code=\"CANCELLED\"")) cancelled += $NF
      else other += $NF }
    END {printf "%d %d %d\n", ok, cancelled, other}'
}
# "a b c" - "x y z", element-wise.
minus() { local -a a=($1) b=($2); echo $(( a[0] - b[0] )) $(( a[1] - b[1] )) $(( a[2] - b[2] )); }
attempts() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^fanout_gateway_backend_attempts_total/ {n += $NF} END {print n + 0}'; }

grpc_frame "$echo_hex" > "$tmp/echo.bin"
grpc_frame "$stream_hex" > "$tmp/stream.bin"
printf 'wrk.method = "POST"\nwrk.body = "{\\"message\\":\\"hi\\"}"\nwrk.headers["Content-Type"] = "application/json"\n' > "$tmp/post.lua"

# wrk --latency's output as "requests req/s p50-ms p99-ms failures"
# (non-2xx and socket errors).
wrk_figures() {  # file
  awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    / requests in / {n=$1} /Requests\/sec/ {rps=$2} / 50%/ {p50=ms($2)} / 99%/ {p99=ms($2)}
    /Non-2xx/ {bad+=$NF} /Socket errors/ {gsub(",",""); bad+=$4+$6+$8+$10}
    END {printf "%d %s %.3f %.3f %d", n, rps, p50, p99, bad}' "$1"
}

declare -A RPS P50 P99 PCPU BCPU CHECK LABEL PERF_TOP
order=()
# Runs one step and records it. kind: grpc or rest. proxy pids: "" for direct.
step() {  # key label kind url calls-per-request body-or-lua proxy-pids...
  local key=$1 label=$2 kind=$3 url=$4 calls=$5 body=$6; shift 6
  local proxy=("$@") out="$tmp/$key.out" lat="$tmp/$key.lat"
  local p0=0 p1=0 b0 b1 s0 s1 g0 g1 a0 a1 n rps p50 p99 bad note=""
  # The gateway measured (its admin port) and the step as on the first one.
  local door=$GA base=${key%-cmp}
  [ "$base" = "$key" ] || door=$GA2
  if [ $kind = grpc ]; then
    "${pin_load[@]}" h2load -n 2000 -c 8 -m 4 -t 1 --data="$body" -H 'content-type: application/grpc' \
      -H 'te: trailers' "$url" >/dev/null
  else
    "${pin_load[@]}" wrk -t1 -c8 -d1s ${body:+-s "$body"} "$url" >/dev/null
  fi
  s0=$(served "$BA" fanout.lab.v1.Lab); g0=$(served "$door" fanout.lab.v1.Lab); a0=$(attempts "$door")
  b0=$(ticks "$backend"); [ ${#proxy[@]} = 0 ] || p0=$(ticks "${proxy[@]}")
  local perf_pid=""
  # perf in the last round only: it costs the gateway CPU while it records
  # (both gateways' steps with PEERS_COMPARE, so their ratio stays fair).
  if [ -n "${PEERS_PERF:-}" ] && [ "$round" = "$rounds" ] &&
     { [ "${proxy[0]:-}" = "$gw" ] || [ "${proxy[0]:-}" = "${gw2:-}" ]; }; then
    perf record -F 999 -g -p "${proxy[0]}" -o "$tmp/$key.perf" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  if [ $kind = grpc ]; then
    "${pin_load[@]}" h2load -D "$secs" -c 8 -m 4 -t 1 --data="$body" -H 'content-type: application/grpc' \
      -H 'te: trailers' --log-file="$lat" "$url" > "$out"
  else
    "${pin_load[@]}" wrk -t1 -c8 -d"${secs}s" --latency ${body:+-s "$body"} "$url" > "$out"
  fi
  b1=$(ticks "$backend"); [ ${#proxy[@]} = 0 ] || p1=$(ticks "${proxy[@]}")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    { perf report -i "$tmp/$key.perf" --no-children --sort dso --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -n 8
      echo "   ..."
      perf report -i "$tmp/$key.perf" --no-children --sort dso,sym --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -n 25; } | sed 's/  */ /g' | cut -c1-150 > "$tmp/$key.top" || true
    PERF_TOP[$key]=$(cat "$tmp/$key.top")
  fi
  s1=$(served "$BA" fanout.lab.v1.Lab); g1=$(served "$door" fanout.lab.v1.Lab); a1=$(attempts "$door")

  if [ $kind = grpc ]; then
    read -r n rps bad <<<"$(awk '/^finished in/ {gsub(",",""); rps=$4}
      /^requests:/ {ok=$8; bad=$10+$12+$14} /^status codes:/ {non2xx=$5+$7+$9}
      END {print ok, rps, bad+non2xx}' "$out")"
    [ "$bad" = 0 ] || note="h2load: $bad failed/errored/timeout/non-2xx; "
    read -r p50 p99 <<<"$(sort -n -k3 "$lat" | awk '{a[NR]=$3} END {printf "%.3f %.3f", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')"
  else
    read -r n rps p50 p99 bad <<<"$(wrk_figures "$out")"
    [ "$bad" = 0 ] || note="wrk: $bad non-2xx/socket errors; "
  fi
  # The backend's answers: at least n*calls OK, nothing else but the few
  # cancelled at the end.
  local ok cancelled other
  read -r ok cancelled other <<<"$(minus "$s1" "$s0")"
  if [ "$ok" -lt $(( n * calls )) ] || [ "$other" != 0 ] || [ "$cancelled" -gt $(( 32 * calls )) ]; then
    note+="backend: $ok OK, $cancelled CANCELLED, $other other for $((n * calls)) expected; "
  fi
  # The gateway's gRPC door, when it is the proxy: as many OK answers.
  if [ "$base" = gw-known ] || [ "$base" = gw-generic ] || [ "$base" = gw-relay ]; then
    read -r ok cancelled other <<<"$(minus "$g1" "$g0")"
    if [ "$ok" -lt "$n" ] || [ "$other" != 0 ] || [ "$cancelled" -gt 32 ]; then
      note+="gateway door: $ok OK, $cancelled CANCELLED, $other other for $n expected ($(curl -sf "http://127.0.0.1:$door/metrics" |
        awk '/^fanout_rpc_server_duration_seconds_count\{/ && /fanout.lab.v1.Lab/ && !/code="(OK|CANCELLED)"/ {match($0, /code="[A-Z_]+"/); printf "%s %s ", substr($0, RSTART, RLENGTH), $NF}')); "
    fi
  fi
  # Which path the gateway took (Backend::Call counts attempts; ProxyCall does not).
  local att=$(( a1 - a0 ))
  if [ "$base" = gw-known ] && [ "$att" -lt "$n" ]; then note+="ProxyUnary not taken ($att attempts); "; fi
  if [ "$base" = gw-generic ] && [ "$att" != 0 ]; then note+="not ProxyCall ($att attempts); "; fi
  local bcpu pcpu=-
  bcpu=$(awk -v t=$((b1 - b0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f", t / hz / n * 1e6}')
  [ ${#proxy[@]} = 0 ] ||
    pcpu=$(awk -v t=$((p1 - p0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.1f", t / hz / n * 1e6}')
  # Every round's figures, space-separated; the summary takes medians.
  RPS[$key]+=" $rps"; P50[$key]+=" $p50"; P99[$key]+=" $p99"; BCPU[$key]+=" $bcpu"
  PCPU[$key]+=" $pcpu"; LABEL[$key]=$label
  [ "${CHECK[$key]:-ok}" != ok ] || CHECK[$key]=${note:-ok}   # a round's failure stays
  [ "$round" != 1 ] || order+=("$key")
  printf '  %-44s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  proxy %6s us/req  backend %5s us/req  [%s]\n' \
    "$label" "$rps" "$p50" "$p99" "$pcpu" "$bcpu" "${note:-ok}"
}

# A gateway step: on the first gateway and, with PEERS_COMPARE, on the
# compared one too, the order swapped every round.
gw_step() {  # key label kind path calls body   (kind grpc, relay or rest: that port's "/...")
  local key=$1 label=$2 kind=$3 path=$4; shift 4
  local port=$G port2=$G2
  case $kind in
    rest) port=$R; port2=$R2 ;;
    relay) port=$GR; port2=$GR2; kind=grpc ;;
  esac
  local first=("$key" "$label" "$kind" "http://127.0.0.1:$port$path" "$@" "$gw")
  if [ -z "$compare" ] || { [ "$key" = gw-relay ] && [ -z "$relay2" ]; }; then
    step "${first[@]}"; return
  fi
  local other=("$key-cmp" "$label [compared]" "$kind" "http://127.0.0.1:$port2$path" "$@" "$gw2")
  if (( round % 2 )); then step "${first[@]}"; step "${other[@]}"; else step "${other[@]}"; step "${first[@]}"; fi
}

E=fanout.lab.v1.Lab/Echo S=fanout.lab.v1.Lab/Stream
echo "steps (gRPC: h2load 8 conn x 4 streams; REST: wrk 8 conn; CPU per request answered)"
for round in $(seq "$rounds"); do
[ "$rounds" = 1 ] || echo " round $round of $rounds"
step direct "gRPC Echo direct (backend)" grpc "http://127.0.0.1:$B/$E" 1 "$tmp/echo.bin"
step nginx "gRPC Echo via nginx grpc_pass" grpc "http://127.0.0.1:$N/$E" 1 "$tmp/echo.bin" "${nginx_pids[@]}"
step haproxy "gRPC Echo via HAProxy (h2)" grpc "http://127.0.0.1:$H/$E" 1 "$tmp/echo.bin" "$hap"
step nghttpx "gRPC Echo via nghttpx (h2)" grpc "http://127.0.0.1:$X/$E" 1 "$tmp/echo.bin" "${nghttpx_pids[@]}"
gw_step gw-known "gRPC Echo via gateway (ProxyUnary)" grpc "/$E" 1 "$tmp/echo.bin"
[ -z "$relay" ] || gw_step gw-relay "gRPC Echo via gateway frame relay" relay "/$E" 1 "$tmp/echo.bin"
step direct-stream "gRPC Stream{count:1} direct (backend)" grpc "http://127.0.0.1:$B/$S" 1 "$tmp/stream.bin"
gw_step gw-generic "gRPC Stream{count:1} via gateway (ProxyCall)" grpc "/$S" 1 "$tmp/stream.bin"
gw_step rest-echo "REST GET /v1/lab/echo via gateway" rest "/v1/lab/echo?message=hi" 1 ""
gw_step rest-post "REST POST /v1/fanout.lab.v1.Lab/Echo" rest "/v1/$E" 1 "$tmp/post.lua"
gw_step rest-fanout3 "REST GET /v1/lab/fanout (3 Echo) via gateway" rest "/v1/lab/fanout" 3 ""
step go-echo "REST GET /v1/lab/echo via Go aggregator" rest "http://127.0.0.1:$GO/v1/lab/echo?message=hi" 1 "" "$go_agg"
step go-fanout3 "REST GET /v1/lab/fanout (3 Echo) via Go aggregator" rest "http://127.0.0.1:$GO/v1/lab/fanout" 3 "" "$go_agg"
step py-echo "REST GET /v1/lab/echo via Python aggregator" rest "http://127.0.0.1:$PY/v1/lab/echo?message=hi" 1 "" "$py_agg"
step py-fanout3 "REST GET /v1/lab/fanout (3 Echo) via Python aggregator" rest "http://127.0.0.1:$PY/v1/lab/fanout" 3 "" "$py_agg"
step h2-echo "REST GET /v1/lab/echo via C++ floor (nghttp2)" rest "http://127.0.0.1:$H2/v1/lab/echo?message=hi" 1 "" "$h2_agg"
step h2-fanout3 "REST GET /v1/lab/fanout (3 Echo) via C++ floor" rest "http://127.0.0.1:$H2/v1/lab/fanout" 3 "" "$h2_agg"
done

# REST beside a saturated gRPC door: the gateway's core kept busy by h2load
# on its gRPC door (ProxyUnary), one REST caller at a time (wrk -c1) on its
# REST door. What a REST request waits for a loop that always has other
# work: the HTTP I/O thread yields to the loops (YieldOnWakeup), and a
# loop that has not slept for a millisecond yields its core (EventLoop::Run).
declare -a BESIDE=()
beside() {  # label grpc-port rest-port
  local label=$1 grpc=$2 rest=$3 out="$tmp/beside.out" h2="$tmp/beside.h2" p50 p99 rps bad note=""
  "${pin_load[@]}" h2load -D $((secs + 1)) -c 8 -m 4 -t 1 --data="$tmp/echo.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' "http://127.0.0.1:$grpc/$E" > "$h2" &
  local h2pid=$!
  sleep 0.5
  "${pin_load[@]}" wrk -t1 -c1 -d"${secs}s" --latency "http://127.0.0.1:$rest/v1/lab/echo?message=hi" > "$out"
  wait "$h2pid"
  local n
  read -r n rps p50 p99 bad <<<"$(wrk_figures "$out")"
  [ "$bad" = 0 ] || note="wrk: $bad non-2xx/socket errors; "
  local grps gbad
  read -r grps gbad <<<"$(awk '/^finished in/ {gsub(",",""); rps=$4}
    /^requests:/ {bad=$10+$12+$14} END {print rps, bad}' "$h2")"
  [ "$gbad" = 0 ] || note+="h2load: $gbad failed/errored/timeout; "
  printf '  %-44s REST p50 %7.3f ms  p99 %7.3f ms  %6.0f req/s; gRPC beside it %6.0f req/s  [%s]\n' \
    "$label" "$p50" "$p99" "$rps" "$grps" "${note:-ok}"
  BESIDE+=("| $label | $p50 | $p99 | $(printf '%.0f' "$rps") | $(printf '%.0f' "$grps") | ${note:-ok} |")
  [ -z "$note" ] || CHECK[beside]=$note
}
echo "REST GET /v1/lab/echo, one caller (wrk -c1), beside h2load saturating the gRPC door"
beside "gateway" "$G" "$R"
[ -z "$compare" ] || beside "gateway [compared]" "$G2" "$R2"

echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- summary ---------------------------------------------------------------
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {
  if (v[1] == "-") print "-"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.3g\n", (v[NR/2] + v[NR/2+1]) / 2}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR > 1 && v[1] != "-") printf " (%s–%s)", v[1], v[NR]}'; }
# The maps keep every round's figures; the tables take their medians. A
# ratio is taken in each round, then its median and range over the rounds:
# the two steps of a round ran within a round of each other, so most of the
# VM's drift from one round to the next (up to 40%) cancels out of it.
ratio() {  # per-round figures of a, per-round figures of b
  local r
  r=$(paste -d' ' <(tr ' ' '\n' <<<"$1" | grep -v '^$') <(tr ' ' '\n' <<<"$2" | grep -v '^$') |
    awk '$1 != "-" && $2 > 0 {printf " %.2f", $1 / $2}')
  [ -n "$r" ] || { echo -; return; }
  echo "$(median <<<"$r")$(range <<<"$r")"
}
echo
[ "$rounds" = 1 ] || echo "medians of $rounds rounds; proxy CPU per request also its range"
echo "| step | req/s | p50 ms | p99 ms | proxy CPU/req | backend CPU/req | check |"
echo "|---|---|---|---|---|---|---|"
for k in "${order[@]}"; do
  pc=$(median <<<"${PCPU[$k]}"); [ "$pc" = - ] || pc="$pc µs$(range <<<"${PCPU[$k]}")"
  printf '| %s | %.0f | %s | %s | %s | %s µs | %s |\n' "${LABEL[$k]}" "$(median <<<"${RPS[$k]}")" \
    "$(median <<<"${P50[$k]}")" "$(median <<<"${P99[$k]}")" "$pc" "$(median <<<"${BCPU[$k]}")" "${CHECK[$k]}"
done
echo
echo "| ratio (CPU per request) | value$([ "$rounds" = 1 ] || echo ": median of the rounds' (range)") |"
echo "|---|---|"
echo "| gateway gRPC proxy, route-known (ProxyUnary) ÷ HAProxy | $(ratio "${PCPU[gw-known]}" "${PCPU[haproxy]}") |"
echo "| gateway gRPC proxy, route-known (ProxyUnary) ÷ nginx | $(ratio "${PCPU[gw-known]}" "${PCPU[nginx]}") |"
echo "| gateway frame relay ÷ HAProxy | $(ratio "${PCPU[gw-relay]:-}" "${PCPU[haproxy]}") |"
echo "| gateway frame relay ÷ nginx | $(ratio "${PCPU[gw-relay]:-}" "${PCPU[nginx]}") |"
echo "| gateway frame relay ÷ nghttpx | $(ratio "${PCPU[gw-relay]:-}" "${PCPU[nghttpx]}") |"
echo "| gateway gRPC proxy, route-known (ProxyUnary) ÷ gateway frame relay | $(ratio "${PCPU[gw-known]}" "${PCPU[gw-relay]:-}") |"
echo "| gateway gRPC proxy, generic (ProxyCall, Stream{count:1}) ÷ HAProxy | $(ratio "${PCPU[gw-generic]}" "${PCPU[haproxy]}") |"
echo "| gateway gRPC proxy, generic (ProxyCall, Stream{count:1}) ÷ nginx | $(ratio "${PCPU[gw-generic]}" "${PCPU[nginx]}") |"
echo "| gateway REST fan-out of 3, per request ÷ backend per Echo (direct) | $(ratio "${PCPU[rest-fanout3]}" "${BCPU[direct]}") |"
echo "| gateway REST fan-out of 3 ÷ Go aggregator's (net/http + grpc-go) | $(ratio "${PCPU[rest-fanout3]}" "${PCPU[go-fanout3]}") |"
echo "| gateway REST fan-out of 3 ÷ Python aggregator's (aiohttp + grpc.aio) | $(ratio "${PCPU[rest-fanout3]}" "${PCPU[py-fanout3]}") |"
echo "| Go aggregator's REST fan-out of 3 ÷ backend per Echo (direct) | $(ratio "${PCPU[go-fanout3]}" "${BCPU[direct]}") |"
echo "| C++ floor's REST fan-out of 3 ÷ backend per Echo (direct) | $(ratio "${PCPU[h2-fanout3]}" "${BCPU[direct]}") |"
echo "| gateway REST fan-out of 3 ÷ C++ floor's (epoll + nghttp2) | $(ratio "${PCPU[rest-fanout3]}" "${PCPU[h2-fanout3]}") |"
echo "| gateway REST GET Echo ÷ C++ floor's | $(ratio "${PCPU[rest-echo]}" "${PCPU[h2-echo]}") |"
echo "| gateway REST GET Echo ÷ Go aggregator's | $(ratio "${PCPU[rest-echo]}" "${PCPU[go-echo]}") |"
echo "| gateway REST GET Echo ÷ Python aggregator's | $(ratio "${PCPU[rest-echo]}" "${PCPU[py-echo]}") |"
echo "| gateway REST GET Echo ÷ gateway gRPC proxy (route-known) | $(ratio "${PCPU[rest-echo]}" "${PCPU[gw-known]}") |"
echo "| gateway REST POST Echo ÷ gateway gRPC proxy (route-known) | $(ratio "${PCPU[rest-post]}" "${PCPU[gw-known]}") |"
echo "| nghttpx (an nghttp2 frame relay) ÷ HAProxy | $(ratio "${PCPU[nghttpx]}" "${PCPU[haproxy]}") |"
echo "| gateway gRPC proxy, route-known (ProxyUnary) ÷ nghttpx | $(ratio "${PCPU[gw-known]}" "${PCPU[nghttpx]}") |"
echo "| HAProxy ÷ backend per Echo (direct) | $(ratio "${PCPU[haproxy]}" "${BCPU[direct]}") |"
echo "| gateway gRPC proxy (route-known) ÷ backend per Echo (direct) | $(ratio "${PCPU[gw-known]}" "${BCPU[direct]}") |"
echo
echo "| REST beside a saturated gRPC door | REST p50 ms | REST p99 ms | REST req/s | gRPC req/s | check |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${BESIDE[@]}"
if [ -n "$compare" ]; then
  echo
  echo "| compared build ÷ this build (CPU per request) | value$([ "$rounds" = 1 ] || echo ": median of the rounds' (range)") |"
  echo "|---|---|"
  for k in gw-known gw-relay gw-generic rest-echo rest-post rest-fanout3; do
    [ -n "${PCPU[$k-cmp]:-}" ] || continue
    echo "| ${LABEL[$k]} | $(ratio "${PCPU[$k-cmp]}" "${PCPU[$k]}") |"
  done
fi
if [ -n "${PEERS_PERF:-}" ]; then
  for k in "${order[@]}"; do
    [ -n "${PERF_TOP[$k]:-}" ] || continue
    echo
    echo "perf, gateway, ${LABEL[$k]} (self time, top symbols):"
    echo "${PERF_TOP[$k]}"
  done
fi
fail=0
for k in "${order[@]}"; do [ "${CHECK[$k]}" = ok ] || fail=1; done
[ -z "${CHECK[beside]:-}" ] || fail=1
[ $fail = 0 ] || { echo "peers: some steps failed their checks (see the check column)"; exit 1; }
