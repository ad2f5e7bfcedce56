#!/usr/bin/env python3
"""What clang-tidy reads for each file, as one hash per file (check_tidy.sh's record).

    tidy_keys.py BUILD_DIR ROOT SCOPE_REGEX  ->  "<sha256> <path under ROOT>" per line

One line per file under ROOT/(SCOPE_REGEX)/ in compile_commands.json (two
for a file compiled twice with different flags). The hash covers the file as
clang-tidy sees it: its text preprocessed by clang-14 with comments (NOLINT)
and macro definitions kept, with every header it includes (the project's,
the generated and the system's), its compile flags, the root .clang-tidy
(checks, ExtraArgs) and clang-tidy's version. ROOT and BUILD_DIR are
replaced by placeholders in the text and the flags, so a clean clone
elsewhere hashes the same. A file clang-14 cannot preprocess gets "-" for a
hash: check_tidy.sh always checks it and never records it.
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys


def main():
    build, root, scope = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    wanted = re.compile("^" + re.escape(root) + "/(" + scope + ")/")
    with open(os.path.join(root, ".clang-tidy"), "rb") as f:
        config = f.read()
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True,
                             text=True).stdout.splitlines()
    version = next((line for line in version if "version" in line), "").strip()
    extra = re.findall(r"^ExtraArgs: \[(.*)\]", config.decode(), re.M)
    extra_args = [a.strip().strip("'\"") for a in extra[0].split(",")] if extra else []

    def normalize(data: bytes) -> bytes:
        return data.replace(build.encode(), b"@BUILD@").replace(root.encode(), b"@ROOT@")

    def key(entry):
        path = entry["file"]
        args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
        flags, skip = [], False
        for a in args[1:]:
            if skip:
                skip = False
            elif a == "-o":
                skip = True
            elif a not in ("-c", path):
                flags.append(a)
        # -C keeps comments (NOLINT), -dD the macros' definitions.
        command = ["clang++-14", "-E", "-C", "-dD", *extra_args, *flags, path]
        done = subprocess.run(command, cwd=entry["directory"], capture_output=True)
        if done.returncode != 0:
            return "-", os.path.relpath(path, root)
        h = hashlib.sha256()
        for part in (version.encode(), config, normalize(" ".join(flags).encode()),
                     normalize(done.stdout)):
            h.update(part)
            h.update(b"\0")
        return h.hexdigest(), os.path.relpath(path, root)

    files = [e for e in entries if wanted.match(e["file"])]
    jobs = int(os.environ.get("TIDY_JOBS") or os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for result in pool.map(key, files):
            print(*result)


if __name__ == "__main__":
    main()
