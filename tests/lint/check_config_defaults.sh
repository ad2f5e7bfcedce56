#!/usr/bin/env bash
# Every number in the config schema says what 0 means (node_config.proto's
# rule): the comment right above a numeric field names its default after
# "0:" (or "0 or 1:"), a value or "no limit"; an `optional` field may say
# "unset:" instead. So `max_in_flight: 0` can never again mean 10000 in one
# place and "no limit" in another without a reader being told.
#   check_config_defaults.sh [ROOT]   (ctest lint_config_defaults)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
fail=0
for file in proto/fanout/config/v1/*.proto; do
  while IFS= read -r hit; do
    echo "config defaults: $hit: say what 0 means (\"0: <default>\" or \"0: no limit\") in the comment above"
    fail=1
  done < <(awk -v file="$file" '
    /^[[:space:]]*\/\// { comment = comment " " $0; next }
    /^[[:space:]]*(optional[[:space:]]+)?(u?int32|u?int64|s?fixed32|s?fixed64|sint32|sint64|double|float)[[:space:]]+[a-z_0-9]+[[:space:]]*=/ {
      said = comment ~ /(^|[^0-9.])0( or [0-9]+)?:/ || ($1 == "optional" && tolower(comment) ~ /unset:/)
      if (!said) { name = $0; sub(/=.*/, "", name); gsub(/^[[:space:]]+|[[:space:]]+$/, "", name); print file ":" FNR ": " name }
    }
    { comment = "" }
  ' "$file")
done
[ "$fail" -eq 0 ] && echo "config defaults: ok"
exit "$fail"
