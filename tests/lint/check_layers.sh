#!/usr/bin/env bash
# The layering arrows of shared/STYLE.md:
#   node/     includes nothing from services/ or gateway/; inside node/, a
#   layer includes only itself and the layers below it, in the order
#   node/CMakeLists.txt declares with fanout_layer(<layer> <lower>...)
#   gateway/  includes nothing from services/
#   services/ NAME includes no other service; services/store (shared storage
#   code, not a service) is open to all, and services/demo and
#   services/fanoutd (programs that compose roles) may use any
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
fail=0
report() { echo "layering: $1"; fail=1; }

while IFS= read -r hit; do report "node/ must not include services/ or gateway/: $hit"; done \
  < <(grep -rnE '#include "(services|gateway)/' node 2>/dev/null || true)
# Inside node/: each layer's allowed includes, the closure of its lower layers.
declare -A lower=()
while read -r layer deps; do lower[$layer]=$deps; done < <(
  sed -n 's/^fanout_layer(\([a-z_]*\)\([a-z_ ]*\).*/\1 \2/p' node/CMakeLists.txt |
    sed 's/ LIBS.*//')
below() {  # layer: it and every layer under it, one per line
  echo "$1"
  local d
  for d in ${lower[$1]:-}; do below "$d"; done
}
for dir in node/*/; do
  layer=$(basename "$dir")
  [ -n "${lower[$layer]+x}" ] || { report "node/$layer is not declared in node/CMakeLists.txt"; continue; }
  allowed=$(below "$layer" | sort -u | paste -sd'|')
  while IFS= read -r hit; do
    report "node/$layer may include only node/{${allowed//|/,}}: $hit"
  done < <(grep -rnE '#include "node/[a-z_]+/' "$dir" | grep -vE "#include \"node/($allowed)/" || true)
done
while IFS= read -r hit; do report "gateway/ must not include services/: $hit"; done \
  < <(grep -rnE '#include "services/' gateway 2>/dev/null || true)
for dir in services/*/; do
  name=$(basename "$dir")
  case "$name" in demo|fanoutd|store) continue ;; esac
  while IFS= read -r hit; do report "services/$name must not include another service: $hit"; done \
    < <(grep -rnE '#include "services/' "$dir" | grep -v "#include \"services/$name/" | grep -v '#include "services/store/' || true)
done
[ "$fail" -eq 0 ] && echo "layering: ok"
exit "$fail"
