#!/usr/bin/env bash
# The layering arrows of shared/STYLE.md:
#   node/     includes nothing from services/ or gateway/
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
