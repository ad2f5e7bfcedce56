# Shared by the deploy tests: the repo root, tools on PATH, a scratch dir,
# a python3 with yaml, and the gateway-availability probe.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
unset "${!FANOUT_@}"  # environment overrides must not mask what the chart renders
eval "$(bash deploy/tools.sh --env)"
python=python3
python3 -c 'import yaml' 2>/dev/null || python=/usr/bin/python3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/fanout-deploy-test.XXXXXX")
cleanup_hooks=("rm -rf '$scratch'")
trap 'for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# The chart's gateway config must pass FANOUTD's --check-config.
require_gateway() {  # fanoutd
  helm template fanout helm/fanout > "$scratch/gateway-probe.yaml"
  "$python" deploy/chart_configs.py "$scratch/gateway-probe.yaml" "$scratch/gateway-probe" \
    --roles gateway >/dev/null
  local out
  if ! out=$("$1" --check-config "$scratch/gateway-probe/gateway.yaml" 2>&1); then
    fail "the chart's gateway config is rejected: $out"
  fi
}
