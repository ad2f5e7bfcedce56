#!/usr/bin/env python3
"""The fanoutd configs a rendered fanout chart holds, as files.

    chart_configs.py RENDERED.yaml OUTDIR
        OUTDIR/<role>.yaml: each role's node.yaml, exactly as the chart's
        ConfigMap has it (for `fanoutd --check-config`).

    chart_configs.py RENDERED.yaml OUTDIR --local [--base-port N|auto]
                     [--rest-port N|auto] [--data-dir DIR]
        The same configs for one machine: every listen address on 127.0.0.1
        (gRPC on base-port + i, admin on 9090 + i, or free ports with auto),
        each backend target the local process of that role (pick_first),
        data under DIR/<role>. A Secret the chart renders and a role mounts
        (the gateway's auth files) is written to OUTDIR/mounts/<role>/<volume>/
        as the kubelet lays it out (files are links into ..data, a link to a
        timestamped directory, swapped to update them), and the config's paths
        under its mountPath point there. Everything else stays as the chart
        rendered it. Also writes OUTDIR/ports.env (ROLE_GRPC=host:port, ...,
        ROLES=...).
"""
import argparse
import base64
import os
import shutil
import socket
import sys
import time

import yaml

ROLE_ORDER = ["users", "orders", "recommendations", "lab", "gateway"]


def chart_configs(rendered_path):
    """role -> (ConfigMap name, node.yaml text), from the rendered manifests."""
    configs = {}
    with open(rendered_path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "ConfigMap":
                continue
            role = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            text = (doc.get("data") or {}).get("node.yaml")
            if role and text is not None:
                configs[role] = (doc["metadata"]["name"], text)
    return configs


def secret_mounts(rendered_path):
    """role -> [(mountPath, volume name, {file: bytes})]: the Secrets in the
    render that a role's fanoutd container mounts (Secrets from elsewhere, as
    tls.secretName, are not in the render and stay as they are)."""
    docs = [d for d in yaml.safe_load_all(open(rendered_path)) if d]
    secrets = {}
    for d in docs:
        if d["kind"] == "Secret":
            files = {k: base64.b64decode(v) for k, v in (d.get("data") or {}).items()}
            files.update({k: v.encode() for k, v in (d.get("stringData") or {}).items()})
            secrets[d["metadata"]["name"]] = files
    mounts = {}
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        role = d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        pod = d["spec"]["template"]["spec"]
        volumes = {v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        for m in pod["containers"][0].get("volumeMounts", []):
            if volumes.get(m["name"]) in secrets:
                if "subPath" in m:
                    sys.exit(f"chart_configs: {role} mounts {m['name']} with subPath: it would never update")
                mounts.setdefault(role, []).append(
                    (m["mountPath"], m["name"], secrets[volumes[m["name"]]]))
    return mounts


def write_secret_volume(directory, files):
    """The kubelet's atomic-writer layout: DIR/..<stamp>/<file>, DIR/..data ->
    ..<stamp>, DIR/<file> -> ..data/<file>. An update writes a new stamp and
    swaps ..data with a rename."""
    os.makedirs(directory, exist_ok=True)
    old = os.readlink(os.path.join(directory, "..data")) if os.path.islink(
        os.path.join(directory, "..data")) else None
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + str(time.monotonic_ns())
    os.makedirs(os.path.join(directory, stamp))
    for name, content in files.items():
        with open(os.path.join(directory, stamp, name), "wb") as f:
            f.write(content)
        link = os.path.join(directory, name)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", name), link)
    tmp = os.path.join(directory, "..data_tmp")
    os.symlink(stamp, tmp)
    os.replace(tmp, os.path.join(directory, "..data"))
    if old:
        shutil.rmtree(os.path.join(directory, old))


def repoint(value, prefix, local):
    """value with every string under prefix/ moved to local/."""
    if isinstance(value, dict):
        return {k: repoint(v, prefix, local) for k, v in value.items()}
    if isinstance(value, list):
        return [repoint(v, prefix, local) for v in value]
    if isinstance(value, str) and value.startswith(prefix + "/"):
        return local + value[len(prefix):]
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_ports(roles, base, rest):
    ports = {}
    for i, role in enumerate(roles):
        if base == "auto":
            ports[role] = {"grpc": free_port(), "admin": free_port()}
        else:
            ports[role] = {"grpc": int(base) + i, "admin": 9090 + i}
    if "gateway" in roles:
        ports["gateway"]["rest"] = free_port() if rest == "auto" else int(rest)
    return ports


def localize(config, role, ports, data_dir):
    config["grpc_address"] = f"127.0.0.1:{ports[role]['grpc']}"
    config["admin_address"] = f"127.0.0.1:{ports[role]['admin']}"
    if "data_dir" in config:
        config["data_dir"] = os.path.join(data_dir, role)
    for name, backend in (config.get("backends") or {}).items():
        if name not in ports:
            sys.exit(f"chart_configs: {role} calls backend {name}, which is not in this topology")
        backend["target"] = f"127.0.0.1:{ports[name]['grpc']}"
        backend["load_balancing"] = "pick_first"
    if role == "gateway":
        gateway = config.setdefault("gateway", {})
        gateway["rest_address"] = f"127.0.0.1:{ports[role]['rest']}"
        if gateway.get("grpc_relay_address"):  # roles.gateway.relay.enabled
            ports[role]["relay"] = free_port()
            gateway["grpc_relay_address"] = f"127.0.0.1:{ports[role]['relay']}"
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rendered")
    parser.add_argument("outdir")
    parser.add_argument("--local", action="store_true")
    parser.add_argument("--base-port", default="50051")
    parser.add_argument("--rest-port", default="8080")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--roles", help="comma-separated subset of the chart's roles")
    args = parser.parse_args()

    configs = chart_configs(args.rendered)
    mounts = secret_mounts(args.rendered) if args.local else {}
    if not configs:
        sys.exit(f"chart_configs: no role ConfigMap with node.yaml in {args.rendered}")
    roles = [r for r in ROLE_ORDER if r in configs]
    if args.roles:
        wanted = args.roles.split(",")
        roles = [r for r in roles if r in wanted]
    os.makedirs(args.outdir, exist_ok=True)
    ports = pick_ports(roles, args.base_port, args.rest_port) if args.local else {}
    for role in roles:
        name, text = configs[role]
        path = os.path.join(args.outdir, f"{role}.yaml")
        with open(path, "w") as f:
            if not args.local:
                f.write(text)
                continue
            config = localize(yaml.safe_load(text), role, ports, os.path.abspath(args.data_dir))
            for mount_path, volume, files in mounts.get(role, []):
                local = os.path.abspath(os.path.join(args.outdir, "mounts", role, volume))
                write_secret_volume(local, files)
                config = repoint(config, mount_path, local)
            f.write(f"# ConfigMap {name} from the fanout chart, its addresses moved to this machine.\n")
            yaml.safe_dump(config, f, sort_keys=True)
    if args.local:
        with open(os.path.join(args.outdir, "ports.env"), "w") as f:
            f.write(f"ROLES=\"{' '.join(roles)}\"\n")
            for role in roles:
                for kind, port in ports[role].items():
                    f.write(f"{role.upper()}_{kind.upper()}=127.0.0.1:{port}\n")
    print(" ".join(roles))


if __name__ == "__main__":
    main()
