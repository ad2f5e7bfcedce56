#!/usr/bin/env python3
"""Every command in the README's Deploy section is one the tests run or render.

    readme_commands.py SCRATCH_DIR      (helm and node on PATH, run from the repo root)

- `helm install` / `helm upgrade [--reuse-values]`: rendered with `helm
  template` and the same release, namespace and values (upgrades with
  --reuse-values stack on the install's), then validated like every render;
- `helm test`, `kubectl ...`, `curl ...`: printed verbatim by the chart's
  NOTES for one of those renders;
- `bash deploy/...`, `docker build`, `export PATH`: the scripts and files the
  other deploy tests run and check (topology_test, image_test, tools.sh).
Anything else fails: a new command needs a check here.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

import yaml

scratch = sys.argv[1]
readme = open("README.md").read()
section = re.search(r"^## Deploy\n(.*?)(?=^## )", readme, re.S | re.M)
if not section:
    sys.exit("README.md has no '## Deploy' section")
commands = []
for block in re.findall(r"```sh\n(.*?)```", section.group(1), re.S):
    for line in block.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(line)

# A copy of the chart whose extra template prints the NOTES text.
notes_chart = os.path.join(scratch, "notes-chart", "fanout")
shutil.copytree("helm/fanout", notes_chart)
with open(os.path.join(notes_chart, "templates", "zz-notes.yaml"), "w") as f:
    f.write('notes: |\n  {{- include "fanout.notes" . | nindent 2 }}\n')

def helm(args):
    result = subprocess.run(["helm", *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"helm {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout

def image_of_chart():
    chart = yaml.safe_load(open("helm/fanout/Chart.yaml"))
    image = yaml.safe_load(open("helm/fanout/values.yaml"))["image"]
    return f"{image['repository']}:{image['tag'] or chart['appVersion']}"

installed = {}  # release -> (namespace, [values args])
rendered = []
notes = []
failures = []
renders = 0
for command in commands:
    argv = shlex.split(command)
    if argv[:2] == ["helm", "install"] or argv[:2] == ["helm", "upgrade"]:
        release, chart, rest = argv[2], argv[3], argv[4:]
        namespace, values, reuse = "default", [], False
        i = 0
        while i < len(rest):
            a = rest[i]
            if a in ("-n", "--namespace"):
                namespace = rest[i + 1]; i += 2
            elif a in ("-f", "--values", "--set", "--set-string"):
                values += [a, rest[i + 1]]; i += 2
            elif a == "--reuse-values":
                reuse = True; i += 1
            elif a in ("--create-namespace", "--wait", "--atomic", "--install"):
                i += 1
            else:
                sys.exit(f"README: {command}: no check for the flag {a}")
        if argv[1] == "upgrade":
            if release not in installed:
                failures.append(f"{command}: upgrades a release the README never installed")
                continue
            if reuse:
                values = installed[release][1] + values
        installed[release] = (namespace, values)
        out = os.path.join(scratch, f"readme-{renders}.yaml")
        with open(out, "w") as f:
            f.write(helm(["template", release, chart, "--namespace", namespace, *values]))
        rendered.append(out)
        notes.append(helm(["template", release, notes_chart, "--namespace",
                           namespace, *values, "--show-only", "templates/zz-notes.yaml"]))
        renders += 1
        print(f"ok: rendered: {command}")
    elif argv[0] in ("kubectl", "curl") or argv[:2] == ["helm", "test"]:
        if not any(command in n for n in notes):
            failures.append(f"{command}: not in the chart's NOTES for the README's releases")
        else:
            print(f"ok: in the chart's NOTES: {command}")
    elif argv[0] == "bash" and argv[1] in ("deploy/topology.sh", "deploy/tools.sh"):
        if not os.path.exists(argv[1]):
            failures.append(f"{command}: {argv[1]} does not exist")
        else:
            print(f"ok: run by the deploy tests: {command}")
    elif command == "export PATH=$PWD/.tools/bin:$PATH":
        print(f"ok: where deploy/tools.sh puts helm and kubectl: {command}")
    elif argv[:2] == ["docker", "build"]:
        dockerfile = argv[argv.index("-f") + 1]
        tag = argv[argv.index("-t") + 1]
        if not os.path.exists(dockerfile):
            failures.append(f"{command}: no {dockerfile}")
        elif tag != image_of_chart():
            failures.append(f"{command}: tags {tag}, but the chart's default image is {image_of_chart()}")
        else:
            print(f"ok: the chart's default image, Dockerfile checked by image_test: {command}")
    else:
        failures.append(f"{command}: no test runs or renders this command")

if rendered:
    check = subprocess.run(["node", os.environ["VALIDATOR"], *rendered], capture_output=True, text=True)
    if check.returncode != 0:
        failures.append(f"helm install/upgrade commands render invalid objects:\n{check.stderr}")
    else:
        print(f"ok: what they render is valid: {check.stdout.strip()}")
if not commands:
    failures.append("the Deploy section has no commands")
for f in failures:
    print(f"FAIL: README Deploy: {f}", file=sys.stderr)
sys.exit(1 if failures else 0)
