#!/usr/bin/env python3
"""Real models under four CUDA allocators, side by side: PyTorch's caching allocator, the same with
``expandable_segments:True``, the ``cudaMallocAsync`` backend, and unimem's pool (libunimem_torch
through CUDAPluggableAllocator).

Each (workload, allocator) runs in a process of its own, one after another, with the same seed,
so every allocator sees the same model, the same shapes and the same requests. Reported for each:

- peak reserved over PyTorch's peak allocated: the bytes the allocator held from CUDA at its peak
  (``max_memory_reserved()``; for unimem its pools' ``peak_reserved_bytes``), over
  ``max_memory_allocated()`` of the run with PyTorch's own allocator, the common denominator;
- wall time over PyTorch's: the iterations after the first (which carries cuDNN/cuBLAS set-up),
  GPU-synchronised, over the same with PyTorch's allocator.

Each run's own peak of bytes in use is recorded too (PyTorch: allocated, in 512-byte blocks;
cudaMallocAsync: the driver's used-memory high-water mark; unimem: the requested bytes), so a run
whose requests differ from the reference shows it.

    python3 bench/torch/harness.py --out DIR [--quick] [--only W ...] [--allocators A ...] [--repeat N] [--trace DIR]

Needs PyTorch with CUDA, torchvision and transformers; for unimem, the `unimem` package (python/)
and libunimem_torch.so (bash bench/torch/run.sh builds it and sets both up). UNIMEM_TORCH_*
variables reach the unimem runs. Writes DIR/results.json, DIR/results.md and (with matplotlib)
DIR/results.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import workloads  # noqa: E402

ALLOCATORS = ("pytorch", "expandable", "cudaMallocAsync", "unimem")
REFERENCE = "pytorch"
_ALLOC_CONF = {"pytorch": None, "expandable": "expandable_segments:True",
               "cudaMallocAsync": "backend:cudaMallocAsync", "unimem": None}


# --- one run, in its own process --------------------------------------------------------------------

def child(name: str, allocator: str, iterations: int, seed: int, out_path: str) -> int:
    t_process = time.perf_counter()
    result: Dict[str, Any] = {"workload": name, "allocator": allocator, "iterations": iterations, "seed": seed}
    if allocator == "unimem":
        import unimem.torch as ut
        result["unimem_config"] = ut.use_unimem_allocator()
    import torch
    rng = random.Random(seed)
    torch.manual_seed(seed)
    dev = torch.device("cuda", 0)
    t0 = time.perf_counter()
    step = workloads.WORKLOADS[name].build(torch, dev, rng)
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    upstream = _upstream_counter(allocator, torch)
    pool_calls = _pool_call_counter(allocator)
    calls = [upstream()]  # calls to cudaMalloc/cudaFree (or the pool's upstream) so far
    boundaries = [pool_calls()]  # unimem: allocations + frees served so far (a trace's line numbers)
    step(0)
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    calls.append(upstream())
    boundaries.append(pool_calls())
    for i in range(1, iterations):
        step(i)
        calls.append(upstream())  # host-side counters: reading them does not synchronise
        boundaries.append(pool_calls())
    torch.cuda.synchronize()
    t3 = time.perf_counter()
    # Upstream calls (allocations + frees) made by each iteration; on a GPU each costs tens of
    # microseconds or more, and a cudaFree synchronises the device, so they show in the wall time.
    result["upstream_calls_per_iteration"] = [b - a for a, b in zip(calls, calls[1:])]
    result["upstream_calls_setup"] = calls[0]
    if allocator == "unimem":
        result["pool_calls_at_iteration_starts"] = boundaries
    result.update({
        "setup_s": t1 - t0, "first_iteration_s": t2 - t1, "steady_s": t3 - t2, "steady_iterations": iterations - 1,
        "torch": torch.__version__, "device": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
    })
    if allocator == "unimem":
        import unimem.torch as ut
        pools = ut.memory_stats_all()
        result["peak_reserved_bytes"] = sum(s["peak_reserved_bytes"] for s in pools.values())
        result["peak_in_use_bytes"] = sum(s["peak_requested_bytes"] for s in pools.values())
        result["upstream_allocations"] = sum(s["upstream_allocations"] for s in pools.values())
        result["upstream_deallocations"] = sum(s["upstream_deallocations"] for s in pools.values())
        result["unimem"] = pools
    else:
        stats = torch.cuda.memory_stats()
        result["backend"] = torch.cuda.get_allocator_backend()
        result["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
        result["peak_in_use_bytes"] = torch.cuda.max_memory_allocated()
        result["peak_requested_bytes"] = stats.get("requested_bytes.all.peak", 0)
        result["upstream_allocations"] = stats.get("num_device_alloc", 0)
        result["upstream_deallocations"] = stats.get("num_device_free", 0)
    result["process_s"] = time.perf_counter() - t_process
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    return 0


def _pool_call_counter(allocator: str):
    """A function giving the allocations plus frees unimem's pools have served (0 for the others)."""
    if allocator != "unimem":
        return lambda: 0
    import unimem.torch as ut

    def served() -> int:
        return sum(p["allocations"] + p["deallocations"] for p in ut.memory_stats_all().values())
    return served


def _upstream_counter(allocator: str, torch: Any):
    """A function giving the upstream allocations plus frees made so far by this process's allocator."""
    if allocator == "unimem":
        import unimem.torch as ut

        def unimem_calls() -> int:
            pools = ut.memory_stats_all().values()
            return sum(p["upstream_allocations"] + p["upstream_deallocations"] for p in pools)
        return unimem_calls

    def torch_calls() -> int:
        stats = torch.cuda.memory_stats()
        return int(stats.get("num_device_alloc", 0) + stats.get("num_device_free", 0))
    return torch_calls


# --- the parent: every run, then the summary ---------------------------------------------------------

def run_one(name: str, allocator: str, iterations: int, seed: int, out_dir: str, timeout: float,
            repeat_index: int, trace_dir: Optional[str] = None) -> Dict[str, Any]:
    path = os.path.join(out_dir, "runs", f"{name}.{allocator}.{repeat_index}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    env = dict(os.environ)
    env.pop("PYTORCH_CUDA_ALLOC_CONF", None)  # deprecated spelling; the one below is set per allocator
    env.pop("PYTORCH_ALLOC_CONF", None)
    if _ALLOC_CONF[allocator]:
        env["PYTORCH_ALLOC_CONF"] = _ALLOC_CONF[allocator]
    env["PYTHONUNBUFFERED"] = "1"
    if trace_dir and allocator == "unimem":
        os.makedirs(trace_dir, exist_ok=True)
        env["UNIMEM_TORCH_TRACE"] = os.path.join(os.path.abspath(trace_dir), f"{name}.{repeat_index}.csv.gz")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--allocator", allocator,
           "--iterations", str(iterations), "--seed", str(seed), "--json", path]
    t = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        rc, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as e:
        partial = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        rc, stderr = -1, f"timed out after {timeout} s\n{partial}"
    wall = time.perf_counter() - t
    if rc == 0 and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    tail = "\n".join(stderr.strip().splitlines()[-25:])
    return {"workload": name, "allocator": allocator, "error": f"exit status {rc} after {wall:.1f} s", "stderr": tail}


def _median_of(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _median(runs: List[Dict[str, Any]], key: str) -> Optional[float]:
    return _median_of([r[key] for r in runs if key in r])


def summarise(runs: List[Dict[str, Any]], names: List[str], allocators: List[str]) -> Dict[str, Any]:
    rows = {}
    for name in names:
        by = {a: [r for r in runs if r["workload"] == name and r["allocator"] == a and "error" not in r]
              for a in allocators}
        ref_alloc = _median(by.get(REFERENCE, []), "peak_in_use_bytes")
        ref_requested = _median(by.get(REFERENCE, []), "peak_requested_bytes")
        ref_time = _median(by.get(REFERENCE, []), "steady_s")
        row: Dict[str, Any] = {"pytorch_peak_allocated_bytes": ref_alloc,
                               "pytorch_peak_requested_bytes": ref_requested, "allocators": {}}
        for a in allocators:
            if not by[a]:
                err = [r for r in runs if r["workload"] == name and r["allocator"] == a]
                row["allocators"][a] = {"error": err[0]["error"] if err else "not run"}
                continue
            reserved = _median(by[a], "peak_reserved_bytes")
            counted = [r for r in by[a] if r.get("upstream_calls_per_iteration")]
            steady = _median(by[a], "steady_s")
            cell = {
                "peak_reserved_bytes": reserved, "peak_in_use_bytes": _median(by[a], "peak_in_use_bytes"),
                "steady_s": steady, "first_iteration_s": _median(by[a], "first_iteration_s"),
                "upstream_allocations": _median(by[a], "upstream_allocations"), "runs": len(by[a]),
                "upstream_calls_first_iteration": _median_of(
                    [r["upstream_calls_per_iteration"][0] for r in counted]),
                "upstream_calls_after_first": _median_of(
                    [sum(r["upstream_calls_per_iteration"][1:]) for r in counted]),
                "reserved_over_pytorch_allocated": reserved / ref_alloc if ref_alloc else None,
                "wall_over_pytorch": steady / ref_time if ref_time and steady is not None else None,
            }
            if a == "unimem":
                pools = by[a][0].get("unimem", {})
                cell["plans_built"] = sum(p.get("plans_built", 0) for p in pools.values())
                # Fairness check: unimem's peak of requested bytes against PyTorch's own.
                if ref_requested:
                    cell["in_use_over_pytorch_requested"] = cell["peak_in_use_bytes"] / ref_requested
            row["allocators"][a] = cell
        rows[name] = row
    return rows


def _fmt(x: Optional[float], digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def markdown(summary: Dict[str, Any], allocators: List[str], meta: Dict[str, Any]) -> str:
    lines = [f"# Real models, allocators side by side ({meta['mode']})", "",
             f"{meta['device']}, PyTorch {meta['torch']} (CUDA {meta['cuda']}), {meta['date']}; "
             f"{meta['repeat']} run(s) per cell, median; seed {meta['seed']}.", "",
             "Peak reserved over PyTorch's peak allocated (`max_memory_allocated()` of the run with PyTorch's "
             "own allocator):", "",
             "| workload | PyTorch peak allocated | " + " | ".join(allocators) + " |",
             "|---|---:|" + "---:|" * len(allocators)]
    for name, row in summary.items():
        ref = row["pytorch_peak_allocated_bytes"]
        cells = []
        for a in allocators:
            c = row["allocators"][a]
            cells.append("FAIL" if "error" in c else _fmt(c["reserved_over_pytorch_allocated"]))
        lines.append(f"| {name} | {_fmt(ref / 2**20 if ref else None, 1)} MiB | " + " | ".join(cells) + " |")
    others = [a for a in allocators if a != REFERENCE]
    lines += ["", "Wall time of the iterations after the first, over PyTorch's (GPU-synchronised):", "",
              "| workload | PyTorch steady s | " + " | ".join(others) + " | upstream calls after the first "
              "iteration, pytorch / unimem | unimem plans |", "|---|---:|" + "---:|" * (len(others) + 2)]
    for name, row in summary.items():
        ref = row["allocators"].get(REFERENCE, {})
        cells = []
        for a in others:
            c = row["allocators"][a]
            cells.append("FAIL" if "error" in c else _fmt(c["wall_over_pytorch"]))
        u = row["allocators"].get("unimem", {})
        lines.append(f"| {name} | {_fmt(ref.get('steady_s'), 3)} | " + " | ".join(cells) +
                     f" | {_fmt(ref.get('upstream_calls_after_first'), 0)} / "
                     f"{_fmt(u.get('upstream_calls_after_first'), 0)} | {_fmt(u.get('plans_built'), 0)} |")
    checks = []
    for name, row in summary.items():
        ratio = row["allocators"].get("unimem", {}).get("in_use_over_pytorch_requested")
        if ratio is not None and abs(ratio - 1) > 0.02:
            checks.append(f"- {name}: unimem's peak of requested bytes is {ratio:.3f}x PyTorch's: the runs' "
                          f"requests differ (cuDNN/cuBLAS workspace choices), so compare with care")
    failures = [f"- {name} / {a}: {c['error']}" for name, row in summary.items()
                for a, c in row["allocators"].items() if "error" in c]
    if checks:
        lines += ["", "Request check:", ""] + checks
    if failures:
        lines += ["", "Failed runs (stderr in results.json):", ""] + failures
    return "\n".join(lines) + "\n"


def chart(summary: Dict[str, Any], allocators: List[str], path: str, title: str) -> Optional[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(summary)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 0.55 * len(names) + 2.5), sharey=True)
    height = 0.8 / len(allocators)
    for k, a in enumerate(allocators):
        ys = [i + (k - (len(allocators) - 1) / 2) * height for i in range(len(names))]
        mem = [summary[n]["allocators"][a].get("reserved_over_pytorch_allocated") or 0 for n in names]
        left.barh(ys, mem, height=height, label=a)
        if a != REFERENCE:
            wall = [summary[n]["allocators"][a].get("wall_over_pytorch") or 0 for n in names]
            right.barh(ys, wall, height=height, label=a, color=f"C{k}")
    left.axvline(1.0, color="black", lw=0.8)
    left.axvline(1.05, color="grey", ls="--", lw=0.8, label="brief's target (1.05 memory, 1.02 time)")
    right.axvline(1.0, color="black", lw=0.8)
    right.axvline(1.02, color="grey", ls="--", lw=0.8)
    left.set_yticks(range(len(names)))
    left.set_yticklabels(names)
    left.invert_yaxis()
    left.set_xlabel("peak reserved / PyTorch's peak allocated")
    right.set_xlabel("wall time / PyTorch's allocator (iterations after the first)")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=120)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder for results.json, results.md, results.png and runs/")
    ap.add_argument("--quick", action="store_true", help="each workload's short iteration count")
    ap.add_argument("--only", nargs="+", metavar="WORKLOAD", help="workloads (default: the harness's seven)")
    ap.add_argument("--allocators", nargs="+", choices=ALLOCATORS, default=list(ALLOCATORS))
    ap.add_argument("--iterations", type=int, help="iterations of every workload (default: its own)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the median is reported")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace", metavar="DIR",
                    help="unimem runs write their pool's calls to DIR/WORKLOAD.REPEAT.csv.gz (UNIMEM_TORCH_TRACE), "
                         "for unimem-replay and unimem-plan; iteration boundaries go to the run's JSON")
    ap.add_argument("--timeout", type=float, help="seconds per run (default 150 with --quick, else 900)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--allocator", choices=ALLOCATORS, help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.allocator, args.iterations, args.seed, args.json)
    if args.list:
        for n, w in workloads.WORKLOADS.items():
            mark = "*" if n in workloads.HARNESS_WORKLOADS else " "
            print(f"{mark} {n:30s} {w.iterations:4d} / quick {w.quick_iterations:3d}  {w.description}")
        print("* = run by default")
        return 0
    if not args.out:
        ap.error("--out DIR is required (the folder results are written to)")
    names = args.only or list(workloads.HARNESS_WORKLOADS)
    unknown = [n for n in names if n not in workloads.WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; --list shows the names")
    if args.repeat < 1 or (args.iterations is not None and args.iterations < 2):
        ap.error("--repeat must be >= 1 and --iterations >= 2 (the first iteration is not timed)")
    allocators = [a for a in ALLOCATORS if a in args.allocators]
    if REFERENCE not in allocators:
        ap.error("the 'pytorch' allocator is the reference every ratio divides by; keep it in --allocators")
    timeout = args.timeout or (150.0 if args.quick else 900.0)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    runs: List[Dict[str, Any]] = []
    for name in names:
        w = workloads.WORKLOADS[name]
        iterations = args.iterations or max(2, w.quick_iterations if args.quick else w.iterations)
        for r in range(args.repeat):
            for a in allocators:
                t = time.perf_counter()
                result = run_one(name, a, iterations, args.seed, args.out, timeout, r, args.trace)
                runs.append(result)
                took = time.perf_counter() - t
                if "error" in result:
                    print(f"{name:30s} {a:16s} FAILED ({result['error']}, {took:.1f} s)\n{result['stderr']}",
                          flush=True)
                else:
                    print(f"{name:30s} {a:16s} reserved {result['peak_reserved_bytes'] / 2**20:9.1f} MiB  "
                          f"in use {result['peak_in_use_bytes'] / 2**20:9.1f} MiB  steady {result['steady_s']:7.3f} s"
                          f"  ({took:.1f} s)", flush=True)
    ok = [r for r in runs if "error" not in r]
    first = ok[0] if ok else {}
    meta = {"mode": "quick" if args.quick else "full", "device": first.get("device", "unknown device"),
            "torch": first.get("torch", "?"), "cuda": first.get("cuda", "?"),
            "date": datetime.date.today().isoformat(), "repeat": args.repeat, "seed": args.seed,
            "total_s": round(time.perf_counter() - start, 1), "allocators": allocators, "workloads": names}
    summary = summarise(runs, names, allocators)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs}, f, indent=1)
    md = markdown(summary, allocators, meta)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md)
    print()
    print(md)
    png = chart(summary, allocators, os.path.join(args.out, "results.png"),
                f"{meta['device']}, PyTorch {meta['torch']}, {meta['date']} ({meta['mode']})")
    print(f"wrote {args.out}/results.json, results.md{', results.png' if png else ' (no matplotlib: no chart)'}; "
          f"{len(runs) - len(ok)} failed runs; {meta['total_s']} s in all")
    return 0 if len(ok) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
