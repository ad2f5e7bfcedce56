#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs fanoutd with the
# users, orders, recommendations and gateway roles in one process on the
# embedded defaults (SQLite under ./fanout-data), printing where to call it
# and sample curls. Ctrl-C drains and stops it. Arguments go to fanoutd
# (--with-lab adds the lab backend and its /v1/lab/* routes; --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target fanoutd
exec build/services/fanoutd/fanoutd "$@"
