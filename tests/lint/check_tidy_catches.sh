#!/usr/bin/env bash
# check_tidy.sh must fail on a finding, in a source file and in a project
# header, and must not report generated code (build/proto/...): a tiny tree
# with the repository's .clang-tidy, two known bugs and a generated header
# with the same kind of bug. And its record must skip only what it saw
# clean: a file recorded clean is skipped, and checked again once a header
# it includes changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/node" "$t/build/proto/fanout/gateway/v1" "$t/tests/lint"
cp "$here/../../.clang-tidy" "$t/"
echo '#define GENERATED_TWICE(x) x + x' >"$t/build/proto/fanout/gateway/v1/gen.pb.h"
echo '#define FANOUT_TWICE(x) ((x) + (x))' >"$t/node/bad.h"
cat >"$t/node/bad.cc" <<'EOF'
#include <string>
#include <utility>

#include "fanout/gateway/v1/gen.pb.h"
#include "node/bad.h"

void Take(std::string s);
void UseAfterMove() {
  std::string s = "x";
  Take(std::move(s));
}
EOF
printf '[{"directory": "%s", "file": "%s", "command": "c++ -std=c++20 -I%s -I%s -c %s"}]\n' \
  "$t/build" "$t/node/bad.cc" "$t" "$t/build/proto" "$t/node/bad.cc" >"$t/build/compile_commands.json"
tidy() { TIDY_JOBS=1 bash "$here/check_tidy.sh" "$@" "$t/build" "$t"; }
fail=0
expect() { grep -qE "$1" <<<"$out" || { echo "$out"; echo "tidy self-test: $2"; fail=1; }; }

# The record: the clean tree is checked and recorded, then skipped.
out=$(tidy --record) || { echo "$out"; echo "tidy self-test: the clean tree did not pass"; exit 1; }
expect ' 1 checked' "the clean file was not checked"
out=$(tidy) || { echo "$out"; echo "tidy self-test: the recorded tree did not pass"; exit 1; }
expect ' 0 checked, 1 unchanged since the record' "the recorded file was checked again"

# A header it includes changes, to a finding: checked again, and caught.
echo '#define FANOUT_TWICE(x) x + x' >"$t/node/bad.h"
out=$(tidy) && {
  echo "$out"
  echo "tidy self-test: a recorded file whose header changed was not checked again"
  exit 1
}
expect 'node/bad\.h:1:.*bugprone-macro-parentheses' "the changed header's finding"

# Both bugs, no record.
rm "$t/tests/lint/tidy_clean.txt"
echo 'void UseAfterMoveAgain() { std::string s = "x"; Take(std::move(s)); Take(s); }' >>"$t/node/bad.cc"
out=$(tidy) && {
  echo "$out"
  echo "tidy self-test: check_tidy.sh passed a tree with known bugs"
  exit 1
}
echo "$out"
expect 'node/bad\.cc:12:.*bugprone-use-after-move' "the use after move in node/bad.cc"
expect 'node/bad\.h:1:.*bugprone-macro-parentheses' "the macro in node/bad.h (HeaderFilterRegex)"
if grep -q 'gen\.pb\.h' <<<"$out"; then
  echo "tidy self-test: reported a generated header (HeaderFilterRegex)"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "tidy self-test: ok"
exit "$fail"
