#!/usr/bin/env python3
"""Checks that every file of the library includes only its own layer and the layers below it.

The layers and their folders are the map of docs/design.md:

    core (include/unimem/*.hpp, src/*.cpp, src/detail)  <  resources  <  pools, adaptors
    <  typed  <  movement  <  zero_copy  <  planning

pools and adaptors are one level: neither includes the other. The umbrella unimem.hpp includes
everything by design. A public header must not include
a private one (src/...), and core public headers include no CUDA header and no fmt.

    scripts/check_layers.py [REPO_ROOT]

Prints each violation as FILE:LINE: what and why; exit status 1 when there is one.
"""
from __future__ import annotations

import os
import re
import sys

LEVEL = {"core": 0, "resources": 1, "pools": 2, "adaptors": 2, "typed": 3, "movement": 4, "zero_copy": 5,
         "planning": 6}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
HEAVY_IN_CORE = ("fmt/", "cuda_runtime.h", "cuda_runtime_api.h", "cuda.h", "driver_types.h")


def layer_of(rel: str) -> str:
    """Layer of a path relative to include/unimem or src (its first folder, or core)."""
    first = rel.split("/", 1)[0]
    return first if first in LEVEL else "core"


def check(root: str) -> list[str]:
    problems: list[str] = []
    for base in ("include/unimem", "src"):
        top = os.path.join(root, base)
        public = base == "include/unimem"
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".hpp", ".cpp", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, top)
                if public and rel == "unimem.hpp":
                    continue  # the umbrella includes every layer by design
                mine = layer_of(rel)
                with open(path, encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, target = m.groups()
                        where = f"{os.path.relpath(path, root)}:{lineno}"
                        if kind == "<" and target.startswith("unimem/"):
                            theirs = layer_of(target[len("unimem/"):])
                        elif kind == '"':
                            if public:
                                problems.append(f"{where}: public header includes \"{target}\"; public headers "
                                                "include only <unimem/...> and system headers")
                                continue
                            theirs = layer_of(target)
                        else:
                            if public and mine == "core" and target.startswith(HEAVY_IN_CORE):
                                problems.append(f"{where}: core public header includes <{target}>; keep CUDA "
                                                "and fmt headers out of core (forward-declare, or move it to src/)")
                            continue
                        if LEVEL[theirs] > LEVEL[mine] or (LEVEL[theirs] == LEVEL[mine] and theirs != mine):
                            problems.append(f"{where}: {mine} includes {target} ({theirs}); a layer includes only "
                                            "itself and the layers below it (docs/design.md)")
    return problems


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
