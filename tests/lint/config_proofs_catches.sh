#!/usr/bin/env bash
# check_config_proofs.sh must fail on a copy of tests/ with one mistake
# made, naming it:
#   unproven_key  the marker proving gateway.max_streams taken out
#   unknown_key   a marker naming gateway.no_such_key
#   config_proofs_catches.sh MISTAKE ROOT CONFIG_KEYS_PROGRAM
set -euo pipefail
mistake=$1 root=$2 keys_program=$3
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r "$root/tests" "$copy/"
case $mistake in
  unproven_key)
    grep -rl --exclude-dir=lint 'proves:.*gateway\.max_streams\b' "$copy/tests" |
      xargs sed -i '/proves:/s/gateway\.max_streams\b//'
    expected='gateway.max_streams: no test proves it' ;;
  unknown_key)
    echo '// proves: gateway.no_such_key' >>"$copy/tests/unit/gateway/gateway_config_test.cc"
    expected='"gateway.no_such_key" is not a config key' ;;
  *) echo "unknown mistake $mistake" >&2; exit 2 ;;
esac
if out=$(bash "$root/tests/lint/check_config_proofs.sh" "$copy" "$keys_program"); then
  echo "check_config_proofs.sh passed with the mistake ($mistake) made"
  exit 1
fi
echo "$out"
grep -qF "$expected" <<<"$out"
