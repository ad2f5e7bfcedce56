#!/usr/bin/env bash
# Every key of the node config (node_config.proto, gateway_config.proto,
# tls_config.proto) is proven: a test under tests/ sets it and asserts that
# behaviour changes (a refusal naming the key counts where the key is wrong
# in its place, as server_name_override on a door). The test carries a
# marker next to it, in a comment:
#     // proves: gateway.max_headers, gateway.max_header_bytes
#     # proves: backends.*.timeout_ms
# (several marker lines for a test proving many keys; .clang-format's 100
# columns apply).
# Keys are the paths config_keys prints (map entries and list items are *).
# Fails naming every key with no marker, and every marker naming a key that
# is not one (renamed or removed), so no key can be documented and ignored
# again. There is no list of exceptions: a new key lands with its proof.
#   check_config_proofs.sh ROOT CONFIG_KEYS_PROGRAM   (ctest lint_config_proofs)
set -euo pipefail
root=$1
keys_program=$(realpath "$2")
cd "$root"
fail=0
keys=$("$keys_program" | sort -u)
# "file:line:key" for each key a marker names.
markers=$(grep -rnE --exclude-dir=lint '(//|#) *proves:' tests 2>/dev/null |
  sed -E 's/^([^:]*:[0-9]+):.*proves: *(.*)$/\1 \2/' |
  while read -r place list; do
    tr ',' '\n' <<<"$list" | sed -E 's/^ +| +$//g' | grep -v '^$' | sed "s|^|$place |"
  done || true)
proven=$(awk '{print $2}' <<<"$markers" | sort -u)

while read -r place key; do
  [ -z "$key" ] && continue
  if ! grep -qxF "$key" <<<"$keys"; then
    echo "config proofs: $place: \"$key\" is not a config key (renamed or removed? config_keys lists them)"
    fail=1
  fi
done <<<"$markers"
while read -r key; do
  [ -z "$key" ] && continue
  if grep -qxF "$key" <<<"$proven"; then continue; fi
  echo "config proofs: $key: no test proves it (add one with \"// proves: $key\" next to it)"
  fail=1
done <<<"$keys"
if [ "$fail" -eq 0 ]; then
  echo "config proofs: ok, all $(grep -c . <<<"$keys") keys proven"
fi
exit "$fail"
