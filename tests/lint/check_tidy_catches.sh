#!/usr/bin/env bash
# check_tidy.sh must fail on a finding, in a source file and in a project
# header, and must not report generated code (build/proto/...): a tiny tree
# with the repository's .clang-tidy, two known bugs and a generated header
# with the same kind of bug.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/node" "$t/build/proto/fanout/gateway/v1"
cp "$here/../../.clang-tidy" "$t/"
echo '#define GENERATED_TWICE(x) x + x' >"$t/build/proto/fanout/gateway/v1/gen.pb.h"
echo '#define FANOUT_TWICE(x) x + x' >"$t/node/bad.h"
cat >"$t/node/bad.cc" <<'EOF'
#include <string>
#include <utility>

#include "fanout/gateway/v1/gen.pb.h"
#include "node/bad.h"

void Take(std::string s);
void UseAfterMove() {
  std::string s = "x";
  Take(std::move(s));
  Take(s);
}
EOF
printf '[{"directory": "%s", "file": "%s", "command": "c++ -std=c++20 -I%s -I%s -c %s"}]\n' \
  "$t/build" "$t/node/bad.cc" "$t" "$t/build/proto" "$t/node/bad.cc" >"$t/build/compile_commands.json"

out=$(TIDY_JOBS=1 bash "$here/check_tidy.sh" "$t/build" "$t") && {
  echo "$out"
  echo "tidy self-test: check_tidy.sh passed a tree with known bugs"
  exit 1
}
echo "$out"
fail=0
expect() { grep -qE "$1" <<<"$out" || { echo "tidy self-test: missing $2"; fail=1; }; }
expect 'node/bad\.cc:11:.*bugprone-use-after-move' "the use after move in node/bad.cc"
expect 'node/bad\.h:1:.*bugprone-macro-parentheses' "the macro in node/bad.h (HeaderFilterRegex)"
if grep -q 'gen\.pb\.h' <<<"$out"; then
  echo "tidy self-test: reported a generated header (HeaderFilterRegex)"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "tidy self-test: ok"
exit "$fail"
