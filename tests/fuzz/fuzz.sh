#!/usr/bin/env bash
# Fuzzes one target (or all of them) with libFuzzer (clang-14, ASan + UBSan)
# for a while, starting from its in-tree seed corpus.
#
#   bash tests/fuzz/fuzz.sh <target|all> [build-dir] [seconds]   # defaults: build, 600
#   targets: json_transcoder http_request timeout_header traceparent
#            node_config proxy_metadata
#
# A target is tests/fuzz/<target>_fuzzer.cc with its seed corpus in
# tests/fuzz/corpus/<target>/. It and the code it covers are compiled here
# with clang (coverage needs it); generated protos come from the build dir
# (run the build first). New inputs go to a scratch corpus, never into the
# tree. A crash leaves its input in the scratch dir and fails the run: copy
# it into tests/fuzz/corpus/<target>/ (a regression test from then on:
# tests/unit/fuzz_corpus_test.cc), fix, rerun. ctest runs each target for
# 15-20 s (label fuzz).
set -euo pipefail
targets=(json_transcoder http_request timeout_header traceparent node_config proxy_metadata)
target=${1:?usage: fuzz.sh <target|all> [build-dir] [seconds]; targets: ${targets[*]}}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${2:-build}" && pwd)
seconds=${3:-600}
if [ "$target" = all ]; then
  failed=()
  for t in "${targets[@]}"; do bash "$0" "$t" "$build" "$seconds" || failed+=("$t"); done
  [ ${#failed[@]} -eq 0 ] || { echo "fuzz.sh: FAILED: ${failed[*]}" >&2; exit 1; }
  exit 0
fi

# What each target compiles (besides itself and fuzz_target.cc) and links.
# node/ and gateway/ sources only; the generated protos from the build dir.
generated=$build/proto
test_generated=$build/tests/proto
absl_libs="absl_statusor absl_strings absl_time absl_str_format"
case "$target" in
  json_transcoder)
    sources=(gateway/json_parse.cc gateway/message_json.cc gateway/json_value.cc
             node/base/json_string.cc "$test_generated/fanout/test/v1/every_field.pb.cc")
    libs="protobuf $absl_libs" ;;
  http_request)
    sources=(node/http/http_request_reader.cc)
    libs="$absl_libs" ;;
  timeout_header)
    sources=(gateway/timeout_header.cc)
    libs="$absl_libs" ;;
  traceparent)
    sources=(node/telemetry/trace_context.cc)
    libs="$absl_libs absl_random_random" ;;
  proxy_metadata)
    sources=(gateway/proxy_metadata.cc)
    libs="$absl_libs" ;;
  node_config)
    # The config path (YAML reader, fanoutd's validation, the gateway's
    # config checks and route compiler) is compiled here with clang, so it is
    # instrumented; the rest of the runtime these link against
    # (servers, RPC, telemetry) comes from the build's own (GCC) libraries,
    # uninstrumented: compiling all of node/ and gateway/ with sanitizers
    # would take minutes on every run, for code the input never reaches.
    sources=(node/config/yaml_proto.cc services/fanoutd/node_config.cc gateway/gateway_config.cc
             gateway/default_routes.cc gateway/route_compile.cc gateway/path_template.cc
             gateway/http_status.cc gateway/json_value.cc gateway/descriptors.cc)
    # node/'s layers top down, as they link (node/CMakeLists.txt).
    archives=(gateway/libfanout_gateway.a)
    for layer in actor http config otlp rpc async loop telemetry base; do
      archives+=("node/libfanout_$layer.a")
    done
    extra_libs=""
    for lib in "${archives[@]}" proto/libfanout_proto.a; do
      [ -f "$build/$lib" ] || { echo "fuzz.sh: $build/$lib is missing: build first" >&2; exit 2; }
    done
    for lib in "${archives[@]}"; do extra_libs+=" $build/$lib"; done
    # Every generated message and service registers itself (whole archive):
    # routes name their methods through the generated descriptor pool.
    extra_libs+=" -Wl,--whole-archive $build/proto/libfanout_proto.a -Wl,--no-whole-archive"
    libs="grpc++ protobuf yaml-cpp $absl_libs absl_random_random absl_synchronization" ;;
  *) echo "fuzz.sh: unknown target \"$target\"; targets: ${targets[*]}" >&2; exit 2 ;;
esac
for s in "${sources[@]}"; do
  case "$s" in /*) ;; *) s=$root/$s ;; esac
  [ -f "$s" ] || { echo "fuzz.sh: $s is missing: build first" >&2; exit 2; }
done

work=$(mktemp -d "/tmp/fanout-fuzz-$target.XXXXXX")
echo "fuzz.sh: $target: working in $work" >&2
paths=()
for s in "${sources[@]}"; do case "$s" in /*) paths+=("$s") ;; *) paths+=("$root/$s") ;; esac; done
# shellcheck disable=SC2086
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -DFANOUT_LIBFUZZER -I"$root" -I"$generated" -I"$test_generated" \
  "$root/tests/fuzz/${target}_fuzzer.cc" "$root/tests/fuzz/fuzz_target.cc" "${paths[@]}" \
  -o "$work/${target}_fuzzer" ${extra_libs:-} $(pkg-config --libs $libs)
mkdir -p "$work/corpus"
cp "$root/tests/fuzz/corpus/$target"/* "$work/corpus/"
cd "$work"
status=0
ASAN_OPTIONS=detect_leaks=1 "./${target}_fuzzer" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 corpus 2>&1 | tee fuzz.log >&2 ||
  status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: $target FAILED; the input is in $work (crash-*, timeout-*, leak-*)" >&2
  exit "$status"
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz.log)
echo "fuzz.sh: $target: no failures in ${seconds}s, $runs executions; corpus grew to $(ls corpus | wc -l) inputs" >&2
rm -rf "$work"
