#!/usr/bin/env bash
# Fault drills: real fanoutd processes in the chart's topology (one role per
# process, the chart's own configs as deploy/topology.sh renders them, with
# tests/drill/values.yaml over the defaults), a load driver that counts every
# answer (bench/http_load), and a fault in the middle. Each drill prints its
# figures on a line starting "drill <name>:" (DRILLS.md keeps the table) and
# fails on a lost request or a promise broken.
#
#   drill.sh FANOUTD HTTP_LOAD rolling        # a second gateway up, the first SIGTERMed
#   drill.sh FANOUTD HTTP_LOAD backend-kill   # recommendations, then users, SIGKILLed and restarted
#   drill.sh FANOUTD HTTP_LOAD backend-stop   # recommendations frozen (SIGSTOP), then SIGCONT
#   drill.sh FANOUTD HTTP_LOAD users-kill     # users SIGKILLed in a burst of creates
#   drill.sh FANOUTD HTTP_LOAD overload       # ten times what the lab bulkhead admits
#   drill.sh FANOUTD HTTP_LOAD burst          # 1,000 requests at once, the backend's default bulkhead
#   drill.sh FANOUTD HTTP_LOAD slowdown       # the lab slows 1 ms -> 200 ms -> 1 ms: the adaptive limit follows
#
# Everything listens on 127.0.0.1 (free ports) and every step is bounded.
source "$(dirname "$0")/../deploy/lib.sh"
source deploy/grpc_curl.sh
fanoutd=$(realpath "$1") load=$(realpath "$2") drill=$3

dir=$scratch/drill
mkdir -p "$dir/logs"
helm template fanout helm/fanout -f tests/drill/values.yaml > "$dir/rendered.yaml"
"$python" deploy/chart_configs.py "$dir/rendered.yaml" "$dir/config" --local --base-port auto \
  --rest-port auto --data-dir "$dir/data" >/dev/null
source "$dir/config/ports.env"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -A pid
starts=0
cleanup_hooks=('for p in "${pid[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done; wait' "${cleanup_hooks[@]}")

# Starts a role (config: the chart's, or another file) and waits until it
# answers grpc.health.v1 SERVING.
start() {  # name [config-file]
  local name=$1 config=${2:-$dir/config/$1.yaml} role=${1%%-*}
  local address
  address=$(sed -n 's/^grpc_address: *//p' "$config")
  starts=$((starts + 1))
  setsid "$fanoutd" --config "$config" > "$dir/logs/$name.$starts.log" 2>&1 < /dev/null &
  pid[$name]=$!
  for _ in $(seq 1 150); do
    if grpc_health "$address" && { [ -z "$(services_of "$role")" ] ||
      grpc_health "$address" "$(services_of "$role")"; }; then
      return 0
    fi
    kill -0 "${pid[$name]}" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$dir/logs/$name.$starts.log" >&2
  fail "$name did not become healthy on $address"
}
# SIGTERM and the exit status (the drain's verdict).
stop() {  # name
  local code=0
  kill -TERM "${pid[$1]}"
  wait "${pid[$1]}" || code=$?
  unset "pid[$1]"
  return $code
}
crash() {  # name: SIGKILL, as the OOM killer or a lost node would
  kill -KILL "${pid[$1]}"
  wait "${pid[$1]}" 2>/dev/null || true
  unset "pid[$1]"
}
# RSS (kB), threads and open fds of a process.
resources() { echo "$(awk '/^VmRSS/ {print $2}' "/proc/$1/status") $(ls "/proc/$1/task" | wc -l) $(ls "/proc/$1/fd" | wc -l)"; }
# Load in the background; `summary KEY` reads its figures when it is done.
load_start() {  # out-file http_load-args...
  local out=$1; shift
  "$load" "$@" > "$out" 2>&1 &
  load_pid=$!
}
load_wait() {  # out-file
  wait "$load_pid" || { cat "$1"; fail "http_load failed"; }
  cat "$1"
  load_summary=" $(sed -n 's/^http_load-summary: //p' "$1") "
}
summary() { local v; v=$(sed -n "s/.* $1=\([^ ]*\) .*/\1/p" <<<"$load_summary"); echo "${v:-0}"; }
circuit() {  # backend: its breaker's state on the gateway
  curl -sf "http://$GATEWAY_ADMIN/metrics" |
    sed -n "s/^fanout_gateway_circuit_state{backend=\"$1\",state=\"\([a-z_]*\)\"} 1$/\1/p"
}
# Milliseconds until the dashboard of user $1 answers whole (the recovery).
until_complete() {  # user-id timeout-s
  local t0=$SECONDS start_ns end_ns
  start_ns=$(date +%s%N)
  while [ $((SECONDS - t0)) -lt "$2" ]; do
    if curl -s -D - -o /dev/null --max-time 3 "http://$GATEWAY_REST/v1/users/$1/dashboard" |
      grep -qi '^x-fanout-completed: true'; then
      end_ns=$(date +%s%N)
      echo $(((end_ns - start_ns) / 1000000))
      return 0
    fi
    sleep 0.05
  done
  echo never
}
# The gateway stayed flat through the fault: its own threads are fixed (the
# loops, HTTP, offload, stall watch); gRPC's timer manager and executor start
# one or two on demand, bounded, not per request. Connections to a restarted
# backend are replaced, not added. RSS: within 32 MiB (allocator arenas).
flat() {  # threads0 threads1 fds0 fds1 rss0 rss1 (kB)
  [ "$2" -le $(($1 + 2)) ] || fail "gateway threads $1 -> $2"
  [ "$4" -le $(($3 + 4)) ] || fail "gateway fds $3 -> $4"
  [ "$6" -le $(($5 + 32768)) ] || fail "gateway RSS $5 kB -> $6 kB"
}
rest_port() { echo "${GATEWAY_REST##*:}"; }
create_user() {  # name -> id
  curl -sS --max-time 5 -X POST "http://$GATEWAY_REST/v1/users" -H 'content-type: application/json' \
    -d "{\"name\": \"$1\", \"email\": \"$1@example.com\"}" |
    "$python" -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# The dashboard topology up, a user, a warm-up, the gateway's resources
# (rss0 threads0 fds0, gw) taken, then dashboard load in the background.
dashboard_load() {  # user-name connections seconds
  for role in users orders recommendations gateway; do start $role; done
  id=$(create_user "$1")
  gw=${pid[gateway]}
  "$load" --ports="$(rest_port)" --path="/v1/users/$id/dashboard" --connections=8 --seconds=2 >/dev/null
  read -r rss0 threads0 fds0 <<<"$(resources "$gw")"
  load_start "$dir/load.out" --ports="$(rest_port)" --path="/v1/users/$id/dashboard" \
    --connections="$2" --seconds="$3" --timeout-ms=5000 --count-header=x-fanout-completed
}

case $drill in
rolling)
  # A rolling update of the gateway Deployment: the new pod comes up, the old
  # one is SIGTERMed. Clients reach whichever accepts a connection (as a
  # Service's endpoints would); not one request may be lost or refused.
  for role in users orders recommendations gateway; do start $role; done
  id=$(create_user ada)
  second=$dir/config/gateway-2.yaml
  sed -e "s/^grpc_address: .*/grpc_address: 127.0.0.1:$(free_port)/" \
    -e "s/^admin_address: .*/admin_address: 127.0.0.1:$(free_port)/" \
    -e "s/^  rest_address: .*/  rest_address: 127.0.0.1:$(free_port)/" \
    "$dir/config/gateway.yaml" > "$second"
  rest2=$(sed -n 's/^  rest_address: 127.0.0.1://p' "$second")
  load_start "$dir/load.out" --ports="$(rest_port),$rest2" --path="/v1/users/$id/dashboard" \
    --connections=8 --seconds=8 --timeout-ms=5000
  sleep 2
  start gateway-2 "$second"
  sleep 1
  code=0
  stop gateway || code=$?
  [ $code = 0 ] || fail "the old gateway exited $code after SIGTERM"
  load_wait "$dir/load.out"
  sent=$(summary sent) lost=$(summary lost) ok200=$(summary status_200)
  echo "drill rolling: sent=$sent answered_200=$ok200 lost=$lost unreachable=$(summary unreachable) old_gateway_exit=$code p99_ms=$(summary p99_ms)"
  [ "$lost" = 0 ] || fail "$lost requests lost in the rolling restart"
  [ "$ok200" = "$sent" ] || fail "only $ok200 of $sent answered 200"
  [ "$(summary unreachable)" = 0 ] || fail "connects refused by both gateways"
  ok "rolling restart: $sent requests, all 200, none lost; the old gateway drained and exited 0"
  ;;

backend-kill)
  # An optional backend (recommendations) and then the required one (users)
  # SIGKILLed under dashboard load and restarted: partial answers while the
  # first is down, 503 while the second is, the breaker opening and closing,
  # and the gateway's RSS, threads and fds where they were.
  dashboard_load grace 8 14
  sleep 1
  crash recommendations
  opened=""
  for _ in $(seq 1 40); do [ "$(circuit recommendations)" = open ] && { opened=yes; break; }; sleep 0.1; done
  sleep 1
  start recommendations
  recovery_recs=$(until_complete "$id" 10)
  closed=""
  for _ in $(seq 1 100); do [ "$(circuit recommendations)" = closed ] && { closed=yes; break; }; sleep 0.1; done
  crash users
  sleep 2
  start users
  recovery_users=$(until_complete "$id" 10)
  load_wait "$dir/load.out"
  read -r rss1 threads1 fds1 <<<"$(resources "$gw")"
  sent=$(summary sent) lost=$(summary lost)
  partial=$(summary x-fanout-completed_false) s503=$(summary status_503) s200=$(summary status_200)
  echo "drill backend-kill: sent=$sent answered_200=$s200 (partial $partial) answered_503=$s503 lost=$lost" \
    "breaker_opened=${opened:-no} breaker_closed=${closed:-no} recovery_ms recommendations=$recovery_recs users=$recovery_users" \
    "gateway rss_kb=$rss0->$rss1 threads=$threads0->$threads1 fds=$fds0->$fds1 p99_ms=$(summary p99_ms) max_ms=$(summary max_ms)"
  [ "$lost" = 0 ] || fail "$lost requests lost"
  [ $((s200 + s503)) = "$sent" ] || fail "answers other than 200 and 503: $load_summary"
  [ "$partial" -gt 0 ] || fail "no partial dashboard while recommendations was down"
  [ "$s503" -gt 0 ] || fail "no 503 while users was down"
  [ "$opened" = yes ] || fail "the recommendations breaker never opened"
  [ "$closed" = yes ] || fail "the recommendations breaker did not close after the restart"
  [ "$recovery_recs" != never ] && [ "$recovery_users" != never ] || fail "no whole dashboard after a restart"
  flat "$threads0" "$threads1" "$fds0" "$fds1" "$rss0" "$rss1"
  ok "backend kills: $sent requests, none lost; partial then 503, breaker open and closed again, gateway flat"
  ;;

backend-stop)
  # recommendations frozen (SIGSTOP): its calls hang, the dashboard still
  # answers by the route's deadline (partial), waiters stay within the
  # bulkhead, nothing grows; SIGCONT and it answers whole again.
  dashboard_load linus 16 10
  sleep 1
  kill -STOP "${pid[recommendations]}"
  max_waiters=0
  for _ in $(seq 1 30); do
    w=$(curl -sf "http://$GATEWAY_ADMIN/metrics" |
      sed -n 's/^fanout_gateway_bulkhead_permits_in_use{backend="recommendations"} \([0-9]*\).*/\1/p')
    [ "${w:-0}" -gt "$max_waiters" ] && max_waiters=$w
    sleep 0.1
  done
  sleep 2
  kill -CONT "${pid[recommendations]}"
  recovery=$(until_complete "$id" 10)
  load_wait "$dir/load.out"
  read -r rss1 threads1 fds1 <<<"$(resources "$gw")"
  permits=$(curl -sf "http://$GATEWAY_ADMIN/metrics" |
    sed -n 's/^fanout_gateway_bulkhead_permits{backend="recommendations"} \([0-9]*\).*/\1/p')
  sent=$(summary sent) lost=$(summary lost) s200=$(summary status_200)
  partial=$(summary x-fanout-completed_false) max_ms=$(summary max_ms)
  echo "drill backend-stop: sent=$sent answered_200=$s200 (partial $partial) lost=$lost max_ms=$max_ms" \
    "recommendations in flight max=$max_waiters of $permits recovery_ms=$recovery" \
    "gateway rss_kb=$rss0->$rss1 threads=$threads0->$threads1 fds=$fds0->$fds1"
  [ "$lost" = 0 ] || fail "$lost requests lost"
  [ "$s200" = "$sent" ] || fail "answers other than 200: $load_summary"
  [ "$partial" -gt 0 ] || fail "no partial dashboard while recommendations was frozen"
  # The route's deadline is 2000 ms: every answer by then (and the machine's
  # scheduling on top).
  [ "${max_ms%.*}" -lt 3000 ] || fail "an answer took $max_ms ms, past the route's 2000 ms deadline"
  [ "$max_waiters" -le "$permits" ] || fail "$max_waiters calls in flight, bulkhead $permits"
  [ "$recovery" != never ] || fail "no whole dashboard after SIGCONT"
  flat "$threads0" "$threads1" "$fds0" "$fds1" "$rss0" "$rss1"
  ok "frozen backend: $sent answered 200 by the deadline ($partial partial), none lost, recovered in $recovery ms"
  ;;

users-kill)
  # users SIGKILLed in the middle of a burst of creates. After its restart,
  # every create that was acknowledged (201 with an id) is there, whole.
  start users
  start gateway
  load_start "$dir/load.out" --ports="$(rest_port)" --method=POST --path=/v1/users \
    --body='{"name": "drill-{n}", "email": "drill-{n}@example.com"}' --connections=8 --seconds=4 \
    --timeout-ms=5000 --record="$dir/acknowledged.ndjson"
  sleep 1.5
  crash users
  sleep 1
  start users
  load_wait "$dir/load.out"
  acknowledged=$(wc -l < "$dir/acknowledged.ndjson")
  [ "$acknowledged" -gt 0 ] || fail "no create was acknowledged"
  # Each acknowledged user, read back through the gateway; and every user
  # stored must be whole (its name and email from the same create).
  "$python" - "$dir/acknowledged.ndjson" "$GATEWAY_REST" <<'PY' || fail "acknowledged creates are missing or damaged"
import http.client, json, sys, time
acked = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
conn = http.client.HTTPConnection(sys.argv[2], timeout=5)
# The gateway reaches the restarted users again once its channel's
# reconnect backoff (250 ms growing to 5 s) comes round and the breaker's
# probe passes: wait for that (at most 15 s), then read.
for _ in range(75):
    conn.request("GET", "/v1/users/%s" % acked[0]["id"])
    r = conn.getresponse(); r.read()
    if r.status != 503:
        break
    time.sleep(0.2)
missing = 0
for user in acked:
    conn.request("GET", "/v1/users/%s" % user["id"])
    r = conn.getresponse(); body = r.read()
    if r.status != 200 or json.loads(body) != user:
        missing += 1
        print("not as acknowledged: %s -> %d %s" % (user, r.status, body[:200]))
stored, token = 0, ""
while True:
    conn.request("GET", "/v1/users?page_size=500" + ("&page_token=" + token if token else ""))
    r = conn.getresponse(); page = json.loads(r.read())
    for user in page.get("users", []):
        stored += 1
        name = user.get("name", "")
        if not name.startswith("drill-") or user.get("email") != name + "@example.com":
            missing += 1
            print("half-written user: %s" % user)
    token = page.get("nextPageToken", "")
    if not token:
        break
print("acknowledged %d, stored %d, missing or damaged %d" % (len(acked), stored, missing))
sys.exit(1 if missing else 0)
PY
  sent=$(summary sent) s201=$(summary status_201)
  echo "drill users-kill: sent=$sent acknowledged=$s201 lost_in_crash=$(summary lost) answered_503=$(summary status_503) acknowledged_missing=0"
  ok "users SIGKILLed mid-burst: all $s201 acknowledged creates are there after the restart"
  ;;

overload)
  # Ten times what the lab bulkhead admits (8 calls of 100 ms in flight, 16
  # queued: ~80/s) for 10 s: the admitted answer within the deadline, the
  # rest are shed at once, and the gateway's memory stays where it was.
  start lab
  start gateway
  gw=${pid[gateway]}
  path="/v1/lab/echo?message=x&delay_ms=100"
  "$load" --ports="$(rest_port)" --path="$path" --connections=8 --seconds=1 >/dev/null
  read -r rss0 threads0 fds0 <<<"$(resources "$gw")"
  load_start "$dir/load.out" --ports="$(rest_port)" --path="$path" --connections=64 --rate=800 \
    --seconds=10 --timeout-ms=5000
  load_wait "$dir/load.out"
  read -r rss1 threads1 fds1 <<<"$(resources "$gw")"
  sent=$(summary sent) lost=$(summary lost) s200=$(summary status_200)
  shed=$(( $(summary status_429) + $(summary status_503) ))
  p99_ok=$(summary p99_ms_200)
  p99_shed=$(printf '%s\n' "$(summary p99_ms_429)" "$(summary p99_ms_503)" | sort -n | tail -n1)
  echo "drill overload: offered=800/s for 10 s (admits ~80/s) sent=$sent admitted_200=$s200 shed=$shed lost=$lost" \
    "p99_ms admitted=$p99_ok shed=$p99_shed gateway rss_kb=$rss0->$rss1 threads=$threads0->$threads1 fds=$fds0->$fds1"
  [ "$lost" = 0 ] || fail "$lost requests lost"
  [ $((s200 + shed)) = "$sent" ] || fail "answers other than 200, 429 and 503: $load_summary"
  [ "$shed" -gt "$s200" ] || fail "ten times the capacity, yet only $shed shed of $sent"
  # The lab route's deadline is the gateway's default, 10 s; admitted calls
  # wait at most for the 16 queued ahead of them (~200 ms).
  [ "${p99_ok%.*}" -lt 2000 ] || fail "admitted p99 $p99_ok ms"
  [ "${p99_shed%.*}" -lt 500 ] || fail "shed p99 $p99_shed ms: shedding must be fast"
  flat "$threads0" "$threads1" "$fds0" "$fds1" "$rss0" "$rss1"
  ok "10x overload: $s200 admitted, $shed shed fast, none lost, gateway flat"
  ;;

burst)
  # 1,000 requests at once on 1,000 connections, the lab backend with the
  # default bulkhead (100 in flight, 1024 queued): a burst a healthy backend
  # clears in milliseconds is queued, not refused.
  config=$dir/config/gateway-defaults.yaml
  sed -e '/^    max_concurrent_calls: /d' -e '/^    max_queued_calls: /d' \
    "$dir/config/gateway.yaml" > "$config"
  start lab
  start gateway "$config"
  result=$("$python" - "$(rest_port)" 1000 <<'PY'
import asyncio, collections, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
statuses = collections.Counter()
async def one(connected, go):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        statuses["connect:" + type(e).__name__] += 1
        connected.release()
        return
    connected.release()
    await go.wait()
    writer.write(b"GET /v1/lab/echo?message=burst HTTP/1.1\r\nHost: drill\r\nConnection: close\r\n\r\n")
    line = await reader.readline()
    statuses[line.split()[1].decode() if len(line.split()) > 1 else "none"] += 1
    writer.close()
async def main():
    connected, go = asyncio.Semaphore(0), asyncio.Event()
    tasks = [asyncio.create_task(one(connected, go)) for _ in range(n)]
    for _ in range(n):
        await connected.acquire()
    go.set()  # Every connection open: all requests leave together.
    await asyncio.gather(*tasks)
asyncio.run(asyncio.wait_for(main(), 60))
print(" ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
PY
  )
  echo "drill burst: 1000 requests at once, default bulkhead: $result"
  [ "$result" = "200=1000" ] || fail "a burst of 1000 answered $result"
  ok "1000 at once: 1000 x 200"
  ;;

slowdown)
  # proves: backends.*.adaptive_concurrency.enabled
  # The lab backend with adaptive_concurrency under steady load (32
  # connections) while its latency goes 1 ms -> 200 ms -> 1 ms. The limit is
  # cut within seconds of the slowdown; admitted requests keep their
  # deadline, the rest are refused fast (429); it grows back on recovery.
  config=$dir/config/gateway-adaptive.yaml
  sed -e 's/^    max_concurrent_calls: .*/    adaptive_concurrency: {enabled: true, min_limit: 4, max_limit: 200, min_rtt_interval_ms: 60000, min_rtt_samples: 10}/' \
    "$dir/config/gateway.yaml" > "$config"
  grep -q adaptive_concurrency "$config" || fail "no lab bulkhead to make adaptive in $config"
  start lab
  start gateway "$config"
  limit() { curl -sf "http://$GATEWAY_ADMIN/metrics" |
    sed -n 's/^fanout_gateway_bulkhead_permits{backend="lab"} \([0-9.]*\)$/\1/p'; }
  ( t0=$(date +%s%N)
    while :; do echo "$((($(date +%s%N) - t0) / 1000000)) $(limit)"; sleep 0.25; done
  ) > "$dir/limit.txt" &
  sampler=$!
  cleanup_hooks=("kill $sampler 2>/dev/null" "${cleanup_hooks[@]}")
  phase() {  # name delay-ms seconds
    echo "phase $1 $(($(date +%s%N) / 1000000))" >> "$dir/phases.txt"
    load_start "$dir/load-$1.out" --ports="$(rest_port)" --path="/v1/lab/echo?message=x&delay_ms=$2" \
      --connections=32 --seconds="$3" --timeout-ms=5000
    load_wait "$dir/load-$1.out"
    eval "lost_$1=$(summary lost) ok_$1=$(summary status_200) shed_$1=$(summary status_429)"
    eval "p99_$1=$(summary p99_ms_200) p99shed_$1=$(summary p99_ms_429)"
    eval "limit_$1=$(limit)"
  }
  phase fast 1 4
  phase slow 200 6
  phase back 1 5
  kill $sampler 2>/dev/null
  trace=$(awk '{printf "%s%s@%ss", (NR>1?" ":""), $2, int($1/1000)}' "$dir/limit.txt" | tr '\n' ' ')
  echo "drill slowdown: limit fast=$limit_fast slow=$limit_slow back=$limit_back;" \
    "200s fast=$ok_fast slow=$ok_slow back=$ok_back; shed slow=$shed_slow (p99 ${p99shed_slow} ms);" \
    "admitted p99 ms fast=$p99_fast slow=$p99_slow back=$p99_back; lost=$((lost_fast + lost_slow + lost_back))"
  echo "limit over time (value@second): $trace"
  [ $((lost_fast + lost_slow + lost_back)) = 0 ] || fail "requests lost"
  [ "${limit_slow%.*}" -lt $((${limit_fast%.*} / 2)) ] || fail "the slowdown did not cut the limit ($limit_fast -> $limit_slow)"
  [ "${limit_back%.*}" -gt $((${limit_slow%.*} * 2)) ] || fail "the limit did not grow back ($limit_slow -> $limit_back)"
  [ "${p99_slow%.*}" -lt 5000 ] || fail "admitted p99 $p99_slow ms past the 5 s deadline"
  [ "$shed_slow" = 0 ] || [ "${p99shed_slow%.*}" -lt 500 ] || fail "shed p99 $p99shed_slow ms: shedding must be fast"
  ok "limit $limit_fast -> $limit_slow -> $limit_back; admitted p99 $p99_slow ms while slow"
  ;;

*) fail "unknown drill $drill (rolling, backend-kill, backend-stop, users-kill, overload, burst, slowdown)" ;;
esac
for name in "${!pid[@]}"; do
  code=0
  stop "$name" || code=$?
  [ $code = 0 ] || fail "$name exited $code after SIGTERM"
done
