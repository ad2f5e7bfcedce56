#!/usr/bin/env bash
# Every C++ file as .clang-format lays it out (clang-format 14, Debian's).
# Fix with: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
format=$(command -v clang-format || command -v clang-format-14 || true)
[ -n "$format" ] || { echo "format: clang-format is not installed (deploy/setup.sh installs it)"; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else
  mapfile -t files < <(find proto node services gateway tests bench -name '*.cc' -o -name '*.h')
fi
if ! "$format" --dry-run --Werror "${files[@]}" 2> "${TMPDIR:-/tmp}/fanout-format.$$"; then
  grep -E '^[^ ].*: (error|warning):' "${TMPDIR:-/tmp}/fanout-format.$$" | cut -d: -f1 | sort -u |
    sed 's/^/format: not laid out as .clang-format says: /'
  rm -f "${TMPDIR:-/tmp}/fanout-format.$$"
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/fanout-format.$$"
echo "format: ok (${#files[@]} files)"
