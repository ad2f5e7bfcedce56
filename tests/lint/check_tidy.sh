#!/usr/bin/env bash
# clang-tidy (Debian's, 14) with the root .clang-tidy, at zero findings.
#
# Covers every translation unit under node/, gateway/ and services/ in the
# build's compile_commands.json, and through HeaderFilterRegex every project
# header they include: the code that ships. tests/ and bench/ are left to a
# run by hand (--all), for cost: most of it is the checks walking the gRPC,
# protobuf and Boost headers each file includes. Measured (clang-tidy 14):
# the 92 files here take ~720 s of CPU, ~6.3 min on 2 idle cores (13.8 min on
# 2026-12-03's slow VM); a test file takes ~20 s (gtest, gmock, gRPC), so the
# whole tree (~150 files) is ~40 min of CPU, ~20 min on 2 cores. With the
# record below current, the ctest run takes ~20 s (hashing only).
#
#   tests/lint/check_tidy.sh [--all] [--full] [--record] [BUILD_DIR [ROOT]]
#
# The record (tests/lint/tidy_clean.txt) makes the ctest run cheap: it holds a
# hash of what clang-tidy read for each file last found clean (tidy_keys.py:
# the file preprocessed by clang-14 with every header, its flags, .clang-tidy,
# clang-tidy's version; about 1 s a file). A file whose hash is recorded was
# checked clean on exactly that input and is skipped; a change to it, to any
# header it includes, to its flags or to the config checks it again. So an old
# record costs time, never a finding. --record rewrites the record after a
# clean run (do it before committing a change under node/, gateway/ or
# services/); --full checks every file whatever the record says.
#
# BUILD_DIR (default ROOT/build) must be configured, with the generated
# protobuf headers built (ninja fanout_proto fanout_test_proto). Jobs:
# $TIDY_JOBS, else one per core. A finding: fix it, or keep it with
# `// NOLINT(check-name): why` on its line.
set -euo pipefail
scope='node|gateway|services'
full=""
record=""
while [ $# -gt 0 ]; do
  case "$1" in
    --all) scope='node|gateway|services|tests|bench' ;;
    --full) full=1 ;;
    --record) record=1 ;;
    *) break ;;
  esac
  shift
done
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "${2:-$here/../..}" && pwd -P)
build=$(cd "${1:-$root/build}" && pwd -P)
run=$(command -v run-clang-tidy || command -v run-clang-tidy-14 || true)
[ -n "$run" ] || { echo "tidy: run-clang-tidy is not installed (deploy/setup.sh installs clang-tidy)"; exit 1; }
[ -f "$build/compile_commands.json" ] ||
  { echo "tidy: no $build/compile_commands.json (configure with cmake first)"; exit 1; }

root_re=$(sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$root")
recorded="$root/tests/lint/tidy_clean.txt"
work=$(mktemp -d "${TMPDIR:-/tmp}/fanout-tidy.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
python3 "$here/tidy_keys.py" "$build" "$root" "$scope" | sort -k2 >"$work/keys"
cut -d' ' -f2 "$work/keys" | sort -u >"$work/files"
files=$(wc -l <"$work/files")
# To check: every file, but those whose every hash the record holds (a file
# compiled twice with different flags has two; "-", a file clang-14 could
# not preprocess, is never recorded).
if [ -n "$full" ] || [ ! -f "$recorded" ]; then
  cp "$work/files" "$work/check"
else
  { grep -vxFf "$recorded" "$work/keys" || true; } | cut -d' ' -f2 | sort -u >"$work/check"
fi
checking=$(wc -l <"$work/check")
status=0
if [ "$checking" -gt 0 ]; then
  files_re=$(sed 's/[][\.*^$+?(){}|]/\\&/g' "$work/check" | paste -sd'|')
  "$run" -p "$build" -j "${TIDY_JOBS:-$(nproc)}" -quiet "^$root_re/($files_re)\$" >"$work/log" 2>&1 ||
    status=$?
  # Keep the diagnostics, not run-clang-tidy's command lines and counts.
  sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep -E ': (error|warning): |^Error while processing' |
    sort -u | sed "s|^$root/||; s/^/tidy: /" || true
fi
summary="$files files under $scope, $checking checked, $((files - checking)) unchanged since the record, $((SECONDS - start)) s"
if [ "$status" -ne 0 ]; then
  echo "tidy: findings above ($summary)"
  exit 1
fi
if [ -n "$record" ]; then
  # The files here replace their lines (none for "-"); other lines (--all's) stay.
  touch "$recorded"
  awk 'NR == FNR {new[$2] = 1; if ($1 != "-") print; next} !($2 in new)' "$work/keys" "$recorded" |
    sort -k2 >"$work/record"
  mv "$work/record" "$recorded"
  echo "tidy: recorded $(grep -vc '^- ' "$work/keys") clean files in ${recorded#"$root/"}"
fi
echo "tidy: ok ($summary)"
