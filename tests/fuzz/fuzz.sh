#!/usr/bin/env bash
# Fuzzes the REST transcoder with libFuzzer (clang-14, ASan + UBSan) for a
# while, starting from the in-tree seed corpus.
#
#   bash tests/fuzz/fuzz.sh [build-dir] [seconds]     # defaults: build, 600
#
# The target and the code it covers are compiled here with clang (coverage
# needs it); generated protos come from the build dir (run the build first).
# New inputs go to a scratch corpus, never into the tree. A crash leaves its
# input in the scratch dir and fails the run: copy it into
# tests/fuzz/corpus/json_transcoder/ (a regression test from then on), fix,
# rerun. ctest runs this for 20 s (label fuzz).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
seconds=${2:-600}
generated=$build/tests/proto
[ -f "$generated/fanout/test/v1/every_field.pb.cc" ] || {
  echo "fuzz.sh: $generated/fanout/test/v1/every_field.pb.cc is missing: build first" >&2
  exit 2
}
work=$(mktemp -d /tmp/fanout-fuzz.XXXXXX)
echo "fuzz.sh: working in $work" >&2
sources=(
  "$root/tests/fuzz/json_transcoder_fuzzer.cc"
  "$root/gateway/json_parse.cc" "$root/gateway/message_json.cc" "$root/gateway/json_value.cc"
  "$root/node/base/json_string.cc" "$generated/fanout/test/v1/every_field.pb.cc"
)
# shellcheck disable=SC2046
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$root" -I"$generated" "${sources[@]}" -o "$work/json_transcoder_fuzzer" \
  $(pkg-config --libs protobuf absl_statusor absl_strings absl_time absl_str_format)
mkdir -p "$work/corpus"
cp "$root"/tests/fuzz/corpus/json_transcoder/* "$work/corpus/"
cd "$work"
status=0
ASAN_OPTIONS=detect_leaks=1 ./json_transcoder_fuzzer -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 corpus || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: FAILED; the input is in $work (crash-*, timeout-*, leak-*)" >&2
  exit "$status"
fi
echo "fuzz.sh: no failures in ${seconds}s; corpus grew to $(ls corpus | wc -l) inputs" >&2
rm -rf "$work"
