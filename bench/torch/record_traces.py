#!/usr/bin/env python3
"""Records allocation traces of real PyTorch workloads in unimem's trace format.

Each workload runs in a fresh process on one CUDA device with PyTorch's own allocator and
``torch.cuda.memory._record_memory_history``; the snapshot's device trace becomes
``op,id,bytes,stream`` (BRIEF section 5): ``a`` on every allocation, ``f`` when the tensor is freed
(``free_requested``: the moment the program lets go, which is what an allocator sees), streams
numbered 0 (default) and up in order of first use. Allocations still live at the end (weights,
optimizer state, caches) stay unfreed in the trace, as the format allows.

Models come from torchvision and transformers with random weights (nothing is downloaded); the
workloads are defined in workloads.py, which harness.py uses too.

    python3 bench/torch/record_traces.py --out DIR [--only NAME ...] [--list]

Writes DIR/NAME.csv.gz per workload and DIR/NAME.json (peak allocated, iterations, wall time).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402  (bench/torch/workloads.py: the one definition of each workload)


# --- recording ----------------------------------------------------------------------------------

def snapshot_to_trace(snapshot, device_index):
    """The device trace as (op, id, bytes, stream) rows: ids per allocation, streams renumbered."""
    events = snapshot["device_traces"][device_index]
    live = {}          # address -> (id, bytes, stream)
    streams = {0: 0}
    rows, next_id = [], 0
    for e in events:
        action = e["action"]
        if action == "alloc":
            s = streams.setdefault(e["stream"], len(streams))
            live[e["addr"]] = (next_id, e["size"], s)
            rows.append(("a", next_id, e["size"], s))
            next_id += 1
        elif action == "free_requested":
            entry = live.pop(e["addr"], None)
            if entry is not None:   # allocated before recording started: not in the trace
                rows.append(("f", entry[0], entry[1], entry[2]))
    return rows


def record_one(name, out_dir, seed):
    import torch
    rng = random.Random(seed)
    torch.manual_seed(seed)
    dev = torch.device("cuda", 0)
    torch.cuda.init()
    torch.cuda.memory._record_memory_history(max_entries=5_000_000, context=None, stacks="python")
    t0 = time.perf_counter()
    iterations = workloads.run(name, torch, dev, rng)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    rows = snapshot_to_trace(snap, 0)
    path = os.path.join(out_dir, f"{name}.csv.gz")
    with gzip.open(path, "wt", compresslevel=9) as f:
        f.write("op,id,bytes,stream\n")
        f.writelines(f"{op},{i},{b},{s}\n" for op, i, b, s in rows)
    meta = {
        "workload": name, "description": workloads.WORKLOADS[name].description, "iterations": iterations,
        "seed": seed,
        "ops": len(rows), "streams": 1 + max((r[3] for r in rows), default=0),
        "torch_peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "torch_peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "wall_s": round(wall, 3), "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
    }
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {len(rows)} ops, {meta['streams']} streams, peak allocated "
          f"{meta['torch_peak_allocated_bytes'] / 2**20:.1f} MiB, {wall:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder for NAME.csv.gz and NAME.json")
    ap.add_argument("--only", nargs="*", help="workload names (default: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        for n, w in workloads.WORKLOADS.items():
            print(f"{n:32s} {w.description}")
        return 0
    if not args.out:
        ap.error("--out DIR is required (the folder the traces are written to)")
    os.makedirs(args.out, exist_ok=True)
    if args.child:
        record_one(args.child, args.out, args.seed)
        return 0
    names = args.only or list(workloads.WORKLOADS)
    unknown = [n for n in names if n not in workloads.WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; --list shows the names")
    failed = []
    for n in names:
        # One process per workload: nothing of one (cached blocks, weights) reaches the next.
        rc = subprocess.call([sys.executable, __file__, "--out", args.out, "--seed", str(args.seed),
                              "--child", n])
        if rc != 0:
            failed.append(n)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
