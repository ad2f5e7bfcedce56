#!/usr/bin/env bash
# A program's command line as the program shell promises it
# (node/program/program.h): --help prints the usage and the flags and exits
# 0; a bad value, an unknown flag or a stray argument exits 2 with a message
# that names it; nothing runs in those cases.
#   program_flags_test.sh PROGRAM BAD_ARGUMENT FLAG [FLAG_IN_HELP...]
# BAD_ARGUMENT is a value the program must refuse (--rounds=abc); FLAG is
# the flag the message must name (--rounds). Each FLAG_IN_HELP (the flags
# scripts use) must be listed by --help.
set -uo pipefail
program=$1 bad=$2 flag=$3
shift 3
name=$(basename "$program")
fail() { echo "FAIL $name: $1"; exit 1; }
run() {  # args...: sets rc, out (stdout), err (stderr)
  out=$(timeout 20 "$program" "$@" 2>"$scratch/err") && rc=0 || rc=$?
  err=$(cat "$scratch/err")
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run --help
[ "$rc" -eq 0 ] || fail "--help exited $rc: $err"
grep -q "^$name: " <<<"$out" || fail "--help does not open with \"$name: \" (the usage): $out"
grep -q '^Flags:$' <<<"$out" || fail "--help lists no flags: $out"
for listed in "$@" --help; do
  grep -qE "^  $listed([=, ]|$)" <<<"$out" || fail "--help does not list $listed: $out"
done
run -h
[ "$rc" -eq 0 ] || fail "-h exited $rc"

run "$bad"
[ "$rc" -eq 2 ] || fail "$bad exited $rc, not 2: $out $err"
grep -qF -- "$flag" <<<"$err" || fail "$bad: the message does not name $flag: $err"
[ -z "$out" ] || fail "$bad: printed on stdout (did it run?): $out"

run --no-such-flag=1
[ "$rc" -eq 2 ] || fail "--no-such-flag exited $rc, not 2"
grep -qF -- "unknown flag --no-such-flag" <<<"$err" || fail "--no-such-flag: $err"

run stray-argument
[ "$rc" -eq 2 ] || fail "a stray argument exited $rc, not 2"
grep -qF -- 'unexpected argument "stray-argument"' <<<"$err" || fail "stray argument: $err"

echo "ok $name: --help exits 0 listing ${*:-its flags}; $bad, an unknown flag and a stray argument exit 2 naming them"
