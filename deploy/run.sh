#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs a fanout node with
# every role it has so far (the lab backend and the fan-out demo), printing
# where to call it and a sample curl. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target fanout_demo
exec build/services/demo/fanout_demo "$@"
