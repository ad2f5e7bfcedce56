#!/usr/bin/env bash
# deploy/Dockerfile without a Docker daemon: its runtime packages provide
# every shared library fanoutd links (as Debian 12 packages them), its user,
# paths and ports are the ones the chart uses, its default config is one
# fanoutd accepts, and .dockerignore keeps build trees and tools out.
source "$(dirname "$0")/lib.sh"
fanoutd=$(realpath "$1")
dockerfile=deploy/Dockerfile

runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$dockerfile")
[ -n "$runtime" ] || fail "no 'FROM debian:12-slim' runtime stage"
grep -q '^FROM debian:12 AS build' "$dockerfile" || fail "no Debian 12 build stage"
grep -q 'bash deploy/setup.sh' "$dockerfile" || fail "the build stage must install with deploy/setup.sh"
packages=$(sed -n '/apt-get install/,/&&/p' <<<"$runtime" | tr ' \\' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm)$' | sort -u)

# The package behind each library the binary loads: one dpkg -S over every
# spelling of each path (merged /usr: /lib/... or /usr/lib/..., symlinks).
libs=$(ldd "$fanoutd" | awk '/=>/ {print $3}' | sort -u)
variants=$(for lib in $libs; do
  real=$(realpath "$lib")
  printf '%s\n' "$lib" "$real" "${lib#/usr}" "/usr${lib#/usr}" "${real#/usr}" "/usr${real#/usr}"
done | sort -u)
owners=$(dpkg -S $variants 2>/dev/null || true)
needed=$(for lib in $libs; do
  real=$(realpath "$lib") owner=""
  for path in "$lib" "$real" "${lib#/usr}" "/usr${lib#/usr}" "${real#/usr}" "/usr${real#/usr}"; do
    owner=$(awk -v p="$path" '$NF == p {sub(/[:,].*/, ""); print; exit}' <<<"$owners")
    [ -n "$owner" ] && break
  done
  echo "${owner:-UNOWNED:$lib}"
done | sort -u)
grep -q UNOWNED <<<"$needed" && fail "libraries no Debian package owns: $(grep UNOWNED <<<"$needed")"
for package in $needed; do
  [ "$package" = libc6 ] && continue  # in every Debian image
  grep -qx "$package" <<<"$packages" ||
    fail "fanoutd links a library of $package, which the runtime stage does not install"
done
for package in $packages; do
  grep -qx "$package" <<<"$needed" ||
    fail "the runtime stage installs $package, which fanoutd does not need"
done
dpkg-query -W $packages >/dev/null || fail "not Debian 12 packages installed here: see above"
ok "runtime packages = what fanoutd links: $(echo $packages)"

# What the chart relies on.
helm template fanout helm/fanout > "$scratch/default.yaml"
"$python" - "$scratch/default.yaml" "$dockerfile" <<'PY' || fail "Dockerfile and chart disagree"
import re, sys, yaml
docker = open(sys.argv[2]).read()
user = re.search(r"^USER (\d+):(\d+)", docker, re.M)
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
w = next(d for d in docs if d["kind"] == "StatefulSet")
spec = w["spec"]["template"]["spec"]
c = spec["containers"][0]
assert user and int(user.group(1)) == spec["securityContext"]["runAsUser"], "USER vs runAsUser"
assert int(user.group(2)) == spec["securityContext"]["runAsGroup"], "USER group vs runAsGroup"
assert 'CMD ["--config", "/etc/fanout/node.yaml"]' in docker and c["args"] == ["--config", "/etc/fanout/node.yaml"]
mounts = {m["mountPath"] for m in c["volumeMounts"]}
assert {"/etc/fanout", "/var/lib/fanout"} <= mounts, mounts
assert "chown fanout:fanout /var/lib/fanout" in docker
exposed = set(re.search(r"^EXPOSE (.*)$", docker, re.M).group(1).split())
assert exposed == {"50051", "9090", "8080"}, exposed
print("ok: user 10001, /etc/fanout/node.yaml, /var/lib/fanout and ports as the chart uses them")
PY

"$fanoutd" --check-config deploy/image-node.yaml || fail "the image's default config"
for excluded in .git .tools .topology 'build\*' fanout-data; do
  grep -qx "$excluded" .dockerignore || fail ".dockerignore does not exclude $excluded"
done
ok "the image's default config passes --check-config; .dockerignore keeps out build trees, tools, data"
