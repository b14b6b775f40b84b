#!/usr/bin/env python3
"""Compiles every host source of a configured build against another CUDA toolkit's headers.

JetPack 6 ships CUDA 12.2/12.6 while the development machines carry CUDA 13; the code has CUDA 12
branches (cudaMemPrefetchAsync/cudaMemAdvise signatures, ...) that a CUDA 13 build never
compiles. This takes the build's own compile commands (compile_commands.json, so every flag and
include folder is the real one), swaps the toolkit's include folders for the given ones, and runs
each host C++ compile with -fsyntax-only, in parallel.

    scripts/cuda12_syntax_check.py BUILD_DIR CUDA12_INCLUDE_DIR [--jobs N]

CUDA_INCLUDE_DIR is a folder holding cuda_runtime_api.h (for example the CUDA 12.8 headers that
PyTorch's virtualenv carries under site-packages/triton/backends/nvidia/include). Prints one line
per failing file with its first error, then a summary line; exit status 1 when a file failed.
A file whose only problem is a header that the given folder lacks (CCCL, NVTX) is reported as
"not checked" with the header's name, not as a failure.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys


def toolkit_version(include_dir: str) -> str:
    try:
        with open(os.path.join(include_dir, "cuda_runtime_api.h"), encoding="utf-8", errors="replace") as f:
            m = re.search(r"#define\s+CUDART_VERSION\s+(\d+)", f.read())
    except OSError:
        return "unknown"
    if not m:
        return "unknown"
    v = int(m.group(1))
    return f"{v // 1000}.{(v % 1000) // 10}"


def swap_includes(args: list[str], old_roots: list[str], new_root: str) -> list[str]:
    """Replaces include folders inside the build's CUDA toolkit with the given headers."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        flag = path = None
        if a in ("-I", "-isystem") and i + 1 < len(args):
            flag, path = a, args[i + 1]
            i += 2
        elif a.startswith("-I") and len(a) > 2:
            flag, path = "-I", a[2:]
            i += 1
        elif a.startswith("-isystem") and len(a) > len("-isystem"):
            flag, path = "-isystem", a[len("-isystem"):]
            i += 1
        else:
            out.append(a)
            i += 1
            continue
        real = os.path.realpath(path)
        root = next((r for r in old_roots if real == r or real.startswith(r + os.sep)), None)
        if root is None:
            out += [flag, path]
            continue
        # The toolkit's include folder (or a subfolder such as cccl/) maps to the given headers.
        candidate = os.path.normpath(os.path.join(new_root, os.path.relpath(real, root)))
        if os.path.isdir(candidate):
            out += ["-isystem", candidate]
    return out


def check_one(entry: dict, old_roots: list[str], new_root: str) -> tuple[str, str, str]:
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    src = entry["file"]
    cmd: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD"):
            continue
        cmd.append(a)
    cmd = swap_includes(cmd, old_roots, new_root)
    # The new headers come first, ahead of anything that might still reach the old toolkit.
    cmd = [cmd[0], "-isystem", new_root, "-fsyntax-only"] + cmd[1:]
    p = subprocess.run(cmd, cwd=entry["directory"], capture_output=True, text=True)
    if p.returncode == 0:
        return src, "ok", ""
    text = p.stderr
    missing = re.search(r"fatal error: ([^:\n]+): No such file or directory", text)
    if missing and not os.path.exists(os.path.join(new_root, missing.group(1))):
        return src, "not checked", f"{missing.group(1)} is not among these headers"
    first = next((l for l in text.splitlines() if "error" in l), text.strip().splitlines()[0] if text.strip() else "")
    return src, "FAIL", first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir")
    ap.add_argument("cuda_include_dir")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    db_path = os.path.join(args.build_dir, "compile_commands.json")
    if not os.path.isfile(db_path):
        print(f"{db_path}: missing; configure the build with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON", file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(args.cuda_include_dir, "cuda_runtime_api.h")):
        print(f"{args.cuda_include_dir}: holds no cuda_runtime_api.h; give the CUDA headers' include folder",
              file=sys.stderr)
        return 2
    with open(db_path, encoding="utf-8") as f:
        db = json.load(f)
    # Host C++ only: nvcc compiles the .cu files with its own headers.
    entries = [e for e in db if e["file"].endswith(".cpp")]
    old_roots = sorted({os.path.realpath(p) for p in os.environ.get("UNIMEM_CUDA_INCLUDE_ROOTS", "").split(":") if p} |
                       {os.path.realpath(p) for p in ("/usr/local/cuda/include", "/usr/local/cuda/targets/x86_64-linux/include",
                                                      "/usr/local/cuda/targets/sbsa-linux/include")
                        if os.path.isdir(p)}, key=len, reverse=True)
    new_root = os.path.realpath(args.cuda_include_dir)
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for r in pool.map(lambda e: check_one(e, old_roots, new_root), entries):
            results.append(r)
    root = os.path.commonpath([r[0] for r in results]) if results else ""
    failed = [r for r in results if r[1] == "FAIL"]
    unchecked = [r for r in results if r[1] == "not checked"]
    for src, status, msg in failed + unchecked:
        print(f"{status:12s} {os.path.relpath(src, root)}: {msg}")
    ok = len(results) - len(failed) - len(unchecked)
    print(f"CUDA {toolkit_version(new_root)} headers: {ok} of {len(results)} host sources compile"
          f" ({len(failed)} failed, {len(unchecked)} not checked)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
