#!/usr/bin/env bash
# The demo node on a free port: the three 1 s calls gathered must finish well
# under the 3 s they take one after another, and the node must exit 0.
set -euo pipefail
demo=$1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$(FANOUT_DEMO_PORT=$port timeout 30 "$demo" --once)
echo "$out"
together=$(echo "$out" | sed -n 's/.*Gather (concurrent): *\([0-9.]*\)s.*/\1/p')
in_turn=$(echo "$out" | sed -n 's/.*one after another: *\([0-9.]*\)s.*/\1/p')
[ -n "$together" ] && [ -n "$in_turn" ] || { echo "demo printed no timings"; exit 1; }
# Behaviour, not a benchmark: concurrent must be at least 1.5x faster than sequential.
python3 -c "import sys; t,s=$together,$in_turn; sys.exit(0 if s > 1.5*t else 1)" \
  || { echo "gather ($together s) was not concurrent (sequential: $in_turn s)"; exit 1; }
