#!/usr/bin/env python3
"""One summary of the main job's results, readable in a minute: the board, its peaks (from the
specification, labelled so), what each memory kind measured (bandwidth and latency, as a fraction of
the peak and against plain CUDA on the same path), allocation cost per resource, the pool against
cub and the CUDA pool, the pinned pool against cudaMallocHost, zero-copy against copy, and the
policy's recommendation for each access pattern.

    python3 scripts/summarize_results.py RESULTS_DIR [--out DIR] [--quiet]

Reads RESULTS_DIR/probe.json (unimem-probe --json-out), RESULTS_DIR/bench_*.json (Google Benchmark
--benchmark_out JSON) and bench_*.txt (their console output), and run.tsv when scripts/run.sh wrote
one (each binary's time and exit status). Any of them may be missing: the summary then says what is
missing and why, as far as the files tell. Prints the summary and writes summary.md and summary.json
to --out (default RESULTS_DIR). Python 3 standard library only.

Every figure is one the run measured, except the peaks, which are the specification's (DRAM: bus
width x memory clock x 2; PCIe: the link as read from sysfs x its encoding) and say so.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_results import BenchFile, fmt_bytes, fmt_num, fmt_seconds, load_json, seconds  # noqa: E402

FORMAT = "unimem-summary 1"
BINARIES = ["bench_bandwidth", "bench_latency", "bench_managed_prefetch", "bench_pinned_pool", "bench_planner",
            "bench_pool_ops", "bench_replay", "bench_residency", "bench_resources", "bench_tensor_view",
            "bench_zero_copy"]


# ------------------------------------------------------------------------------------------------
# The model: sections of rows and cells, rendered as text, Markdown and JSON alike.


def cell(text, value=None, unit=None, better=None, **extra):
    """A table cell: `text` as shown; `value` and `unit` the figure (compare_results.py divides
    them); `better` 'higher' or 'lower'; anything else (of_peak, vs_plain, source, ...) kept in JSON."""
    c = {"text": text}
    if value is not None:
        c.update(value=value, unit=unit, better=better)
    c.update({k: v for k, v in extra.items() if v is not None})
    return c


class Section:
    def __init__(self, key, title, source):
        self.key, self.title, self.source = key, title, source
        self.columns = []
        self.rows = []   # (row name, {column: cell})
        self.notes = []

    def add_row(self, name, cells):
        cells = {k: v for k, v in cells.items() if v is not None}
        if not cells:
            return
        for k in cells:
            if k not in self.columns:
                self.columns.append(k)
        self.rows.append((name, cells))

    def empty(self):
        return not self.rows and not self.notes

    def to_json(self):
        return {"key": self.key, "title": self.title, "source": self.source, "columns": self.columns,
                "rows": [{"name": n, "cells": c} for n, c in self.rows], "notes": self.notes}


def order_columns(section, wanted):
    """Keeps the columns that have cells, in the order of `wanted`."""
    section.columns = [c for c in wanted if c in section.columns] + [c for c in section.columns if c not in wanted]


# ------------------------------------------------------------------------------------------------
# Board and peaks


def cuda_text(probe):
    cuda = (probe or {}).get("cuda") or {}
    if not cuda.get("runtime"):
        return ""
    return f"CUDA runtime {cuda['runtime']}, driver {cuda.get('driver') or 'none'}"


def board(probe, files):
    """The board as a dict, with `line` (one line for people)."""
    b = {"gpu": False}
    dev = (probe or {}).get("device")
    ctx = next((f.context for f in files.values() if f.context.get("unimem_gpu")), {})
    if probe is None:
        b["line"] = "board unknown: probe.json is missing (unimem-probe did not run)"
        if ctx.get("unimem_gpu") and not ctx["unimem_gpu"].startswith("none"):
            b.update(gpu=True, name=ctx["unimem_gpu"], integrated=ctx.get("unimem_integrated") == "1")
            b["line"] = f"{b['name']} (from the benchmarks' context; probe.json is missing)"
        return b
    host = probe.get("host", {})
    b["host"] = {"cpus": host.get("cpus"), "mem_total_bytes": host.get("mem_total")}
    b["cuda_runtime"] = (probe.get("cuda") or {}).get("runtime")
    b["cuda_driver"] = (probe.get("cuda") or {}).get("driver")
    host_text = f"host: {host.get('cpus', '?')} CPUs, " + (
        f"{host['mem_total'] / GiB_f:.1f} GiB" if host.get("mem_total") else "memory unknown")
    if not probe.get("has_gpu") or not dev or dev.get("simulated"):
        b["no_gpu_reason"] = probe.get("no_gpu_reason", "")
        b["name"] = None
        b["line"] = f"board: none — no CUDA GPU ({b['no_gpu_reason']})"
        b["line2"] = "; ".join(x for x in (host_text, cuda_text(probe)) if x)
        return b
    b.update(gpu=True, name=dev.get("name"), integrated=bool(dev.get("integrated")),
             io_coherent=bool(dev.get("io_coherent")), compute_capability=dev.get("compute_capability"),
             multiprocessors=dev.get("multiprocessors"), memory_bytes=dev.get("total_memory_bytes"))
    kind = ("integrated GPU, " + ("I/O coherent" if b["io_coherent"] else "not I/O coherent")) if b["integrated"] \
        else "discrete GPU"
    mem = f"{b['memory_bytes'] / GiB_f:.1f} GiB" if b.get("memory_bytes") else "memory unknown"
    b["line"] = f"board: {b['name']} — {kind}, compute capability {b['compute_capability']}, " \
                f"{b['multiprocessors']} SMs, {mem}"
    b["line2"] = "; ".join(x for x in (cuda_text(probe), host_text) if x)
    return b


GiB_f = float(1 << 30)


def peaks(probe, files):
    """The specification's peaks: [{name, GBps, basis}], each labelled spec."""
    out = []
    dev = (probe or {}).get("device") or {}
    ctx = next((f.context for f in files.values() if f.context.get("unimem_dram_peak_GBps")), {})
    if dev and not dev.get("simulated") and dev.get("peak_bandwidth_bytes_per_s"):
        out.append({"name": "DRAM", "GBps": dev["peak_bandwidth_bytes_per_s"] / 1e9,
                    "basis": f"{dev.get('memory_bus_width_bits')}-bit x {dev.get('memory_clock_khz', 0) // 1000} MHz "
                             f"x 2"})
    elif ctx.get("unimem_dram_peak_GBps"):
        out.append({"name": "DRAM", "GBps": float(ctx["unimem_dram_peak_GBps"]), "basis": "bus width x memory clock x 2"})
    pcie_ctx = next((f.context for f in files.values() if f.context.get("unimem_pcie_peak_GBps")), {})
    if dev.get("pcie_peak_bytes_per_s"):
        out.append({"name": "PCIe", "GBps": dev["pcie_peak_bytes_per_s"] / 1e9,
                    "basis": f"{dev.get('pcie_link')} as read from sysfs, per direction"})
    elif pcie_ctx:
        out.append({"name": "PCIe", "GBps": float(pcie_ctx["unimem_pcie_peak_GBps"]),
                    "basis": f"{pcie_ctx.get('unimem_pcie_link', 'the link')} as read from sysfs, per direction"})
    for p in out:
        p["spec"] = True
    return out


# ------------------------------------------------------------------------------------------------
# Memory kinds (bench_bandwidth, bench_latency)

KINDS = ["device", "pinned", "pinned_wc", "registered", "mapped", "managed", "pageable"]
# Where a kernel uses each kind in place: zero-copy kernels for mapped and registered memory, the copy
# kernel (which reads host memory in place) for pinned and pageable memory.
IN_PLACE = {"device": "kernel/read/device", "mapped": "zero_copy/read/mapped",
            "registered": "zero_copy/read/registered", "pinned": "copy_sm/h2d/pinned",
            "pinned_wc": "copy_sm/h2d/pinned_wc", "pageable": "copy_sm/h2d/pageable",
            "managed": "managed/on_demand"}
GPU_CHASE = {"device": "device_resource", "managed": "managed_resource", "mapped": "mapped_resource"}
CPU_CHASE = {"pageable": "host_resource", "pinned": "pinned_resource", "mapped": "mapped_resource"}


def largest(runs_by_path, path):
    runs = runs_by_path.get(path)
    return runs[-1] if runs else None


def bw_cell(run, path):
    if run is None:
        return None
    gbps = run.get("GBps")
    if gbps is None:
        return None
    of_peak = run.get("of_peak")
    label = run.get("label", "")
    peak = "PCIe" if "PCIe" in label else "DRAM" if "DRAM" in label else None
    text = fmt_num(gbps) + (f" ({of_peak * 100:.0f}%)" if of_peak else "")
    return cell(text, gbps, "GB/s", "higher", of_peak=of_peak, peak=peak, vs_plain=run.get("bw_ratio_vs_raw"),
                plain=run.get("raw_GBps"), size_bytes=int(run.get("bytes", 0)), source=path)


def gbps_text(run):
    """'48.0 GB/s (76%)' for a note."""
    return f"{fmt_num(run['GBps'])} GB/s" + (f" ({run['of_peak'] * 100:.0f}%)" if run.get("of_peak") else "")


def chase_cell(run, path):
    if run is None or run.get("ns") is None:
        return None
    return cell(f"{fmt_num(run['ns'])} ns", run["ns"], "ns", "lower", vs_plain=run.get("chase_ratio_vs_raw"),
                plain=run.get("raw_ns"), working_set_bytes=int(run.get("working_set", 0)), source=path)


def ratio_range(values):
    values = [v for v in values if v]
    if not values:
        return None
    lo, hi = min(values), max(values)
    text = fmt_num(lo) if fmt_num(lo) == fmt_num(hi) else f"{fmt_num(lo)}-{fmt_num(hi)}"
    return cell(text, None, None, None, low=lo, high=hi)


def memory_kinds(files, board_info):
    bw, lat = files["bench_bandwidth"], files["bench_latency"]
    s = Section("memory_kinds", "Memory kinds: bandwidth (GB/s, % of the spec peak) and latency",
                "bench_bandwidth, bench_latency")
    bw_paths = bw.by_path("")
    gpu_chase, cpu_chase = lat.by_path("gpu_chase/"), lat.by_path("cpu_chase/")
    sizes = set()  # of the bandwidth cells
    for kind in KINDS:
        cells = {
            "copy to GPU": bw_cell(largest(bw_paths, f"copy_ce/h2d/{kind}"), f"copy_ce/h2d/{kind}"),
            "copy from GPU": bw_cell(largest(bw_paths, f"copy_ce/d2h/{kind}"), f"copy_ce/d2h/{kind}"),
            "kernel in place": bw_cell(largest(bw_paths, IN_PLACE[kind]), IN_PLACE[kind]),
            "CPU read": bw_cell(largest(bw_paths, f"cpu/read/{kind}"), f"cpu/read/{kind}"),
            "CPU write": bw_cell(largest(bw_paths, f"cpu/write/{kind}"), f"cpu/write/{kind}"),
        }
        if kind in GPU_CHASE:
            path = f"gpu_chase/{GPU_CHASE[kind]}"
            cells["GPU latency"] = chase_cell(largest(gpu_chase, path), path)
        if kind in CPU_CHASE:
            path = f"cpu_chase/{CPU_CHASE[kind]}"
            cells["CPU latency"] = chase_cell(largest(cpu_chase, path), path)
        present = [c for c in cells.values() if c]
        for c in present:
            if c.get("size_bytes"):
                sizes.add(c["size_bytes"])
        cells["unimem / plain"] = ratio_range([c.get("vs_plain") for c in present])
        if present:
            s.add_row(kind, cells)
    order_columns(s, ["copy to GPU", "copy from GPU", "kernel in place", "CPU read", "CPU write", "GPU latency",
                      "CPU latency", "unimem / plain"])
    if not s.rows:
        s.notes.append(missing_note([bw, lat]))
        return s

    # One size for the table (the one most paths reached); a cell measured at another says so.
    common = {}
    for key in ("size_bytes", "working_set_bytes"):
        counts = {}
        for _, cs in s.rows:
            for c in cs.values():
                if c.get(key):
                    counts[c[key]] = counts.get(c[key], 0) + 1
        if counts:
            common[key] = max(counts, key=lambda x: (counts[x], x))
            for _, cs in s.rows:
                for c in cs.values():
                    if c.get(key) and c[key] != common[key]:
                        c["text"] += f" @{fmt_bytes(c[key])}"
    size_text = fmt_bytes(common["size_bytes"]) + (" (@ marks a path measured at another size)"
                                                    if len(sizes) > 1 else "") if "size_bytes" in common else "-"
    integrated = board_info.get("integrated")
    if not board_info.get("gpu"):
        s.notes.append(f"host memory (malloc) only, one CPU thread: GB/s at {size_text}; the "
                       "host's DRAM peak is not known, so no % of peak.")
    elif integrated:
        s.notes.append(f"GB/s at {size_text}; % of the spec DRAM peak: on an "
                       "integrated GPU every path, CPU access included, uses the one DRAM.")
    else:
        s.notes.append(f"GB/s at {size_text}; % of the spec peak: the PCIe link for "
                       "paths that cross it, DRAM for device memory; the CPU's host DRAM peak is not known.")
    if any(k in ("pinned", "pinned_wc", "pageable") and "kernel in place" in c for k, c in s.rows):
        s.notes.append("kernel in place: zero-copy kernels for mapped and registered memory, the copy kernel "
                       "(copy_sm/h2d: reads host memory in place) for pinned and pageable memory, the page-faulting "
                       "kernel for managed memory.")
    managed = [(what, largest(bw_paths, p)) for what, p in (("pages on the host (page faults)", "managed/on_demand"),
                                                             ("cudaMemPrefetchAsync + kernel", "managed/prefetch"),
                                                             ("pages already on the device", "managed/resident"))]
    managed = [(w, r) for w, r in managed if r]
    if managed:
        s.notes.append("managed memory read by a kernel: " + "; ".join(f"{w} {gbps_text(r)}" for w, r in managed) + ".")
    d2d = [(w, largest(bw_paths, p)) for w, p in (("copy engine", "copy_ce/d2d/device"), ("copy kernel", "copy_sm/d2d/device"))]
    d2d = [(w, r) for w, r in d2d if r]
    if d2d:
        s.notes.append("device to device (bytes counted once, so DRAM moves twice as much): " + "; ".join(
            f"{w} {gbps_text(r)}" for w, r in d2d) + ".")
    if "working_set_bytes" in common:
        s.notes.append("latency: one dependent load after another (a pointer chase), per hop, working set "
                       f"{fmt_bytes(common['working_set_bytes'])}.")
    within = []
    for f, key in ((bw, "bw_ratio_vs_raw"), (lat, "chase_ratio_vs_raw")):
        vals = [r[key] for r in f.runs if r.get(key)]
        if vals:
            within.append(f"{sum(1 for v in vals if 0.95 <= v <= 1.05)} of {len(vals)} "
                          f"{'bandwidth' if key.startswith('bw') else 'latency'}")
    if within:
        s.notes.append("unimem / plain: unimem's memory over plain CUDA's (cudaHostAlloc, cudaMalloc, ...), same path, "
                       "same loop; every size: " + " and ".join(within) + " measurements within 5% (charts/tables.md lists "
                       "the rest).")
    return s


# ------------------------------------------------------------------------------------------------
# Allocation (bench_resources)


def allocation(files):
    res = files["bench_resources"]
    s = Section("allocation", "Allocation: one allocate + free pair (mean)", "bench_resources")
    families = {}
    for r in res.runs:
        parts = r["name"].split("/")
        if len(parts) < 3 or parts[0] != "alloc_free" or not parts[2].isdigit():
            continue
        families.setdefault(parts[1], []).append(r)
    for fam, runs in families.items():
        resource, _, plain = fam.partition("_vs_")
        cells = {}
        for r in sorted(runs, key=lambda r: int(r["name"].split("/")[2])):
            size = int(r["name"].split("/")[2])
            t = seconds(r)
            cells[fmt_bytes(size)] = cell(fmt_seconds(t), t * 1e6, "us", "lower", vs_plain=r.get("ratio_vs_raw"),
                                          plain_us=r.get("raw_ns", 0) / 1e3 if r.get("raw_ns") else None)
        cells["unimem / plain"] = ratio_range([r.get("ratio_vs_raw") for r in runs])
        cells["plain call"] = cell(plain)
        s.add_row(resource, cells)
    if not s.rows:
        s.notes.append(missing_note([res]))
        return s
    s.notes.append("unimem / plain: the resource's time over the call it wraps, timed in the same loop "
                   "(the ratio is what the abstraction costs).")
    return s


# ------------------------------------------------------------------------------------------------
# Pools (bench_replay, bench_pinned_pool, bench_pool_ops)

DEVICE_PEERS = [("cub_pow2", "cub (pow2 bins)"), ("cub_default", "cub (default)"), ("cuda_mempool", "CUDA pool"),
                ("cuda_malloc", "cudaMalloc")]
HOST_PEERS = [("malloc", "malloc")]


def replay_pools(files):
    rep = files["bench_replay"]
    s = Section("pools", "unimem's pool against cub and the CUDA pool: real PyTorch allocation traces, mean per call",
                "bench_replay")
    per_trace = {}
    for r in rep.runs:
        parts = r["name"].split("/")
        if len(parts) >= 3 and parts[0] == "replay":
            per_trace.setdefault(parts[1], {})[parts[2]] = r
    gpu = any("pool_device" in t for t in per_trace.values())
    pool_name, peers = ("pool_device", DEVICE_PEERS) if gpu else ("pool_host", HOST_PEERS)
    pool_col = "unimem pool" + ("" if gpu else " (host memory)")
    res_live = {}
    for trace, targets in per_trace.items():
        pool = targets.get(pool_name)
        if pool is None or not pool.get("mean_ns_per_op"):
            continue
        pool_s = pool["mean_ns_per_op"]
        cells = {pool_col: cell(fmt_seconds(pool_s), pool_s * 1e9, "ns", "lower")}
        for key, label in peers:
            peer = targets.get(key)
            if peer and peer.get("mean_ns_per_op"):
                x = peer["mean_ns_per_op"] / pool_s
                cells[label] = cell(f"{fmt_seconds(peer['mean_ns_per_op'])} ({fmt_num(x, 2)}x)",
                                    peer["mean_ns_per_op"] * 1e9, "ns", "lower", pool_speedup=x)
        for key in [pool_name] + [k for k, _ in peers]:
            t = targets.get(key)
            if t and t.get("reserved_over_live") and t.get("peak_reserved_MiB"):
                res_live.setdefault(key, []).append(t["reserved_over_live"])
        cells["pool reserved / live"] = cell(fmt_num(pool.get("reserved_over_live")), pool.get("reserved_over_live"),
                                             "x", "lower")
        s.add_row(trace, cells)
    if not s.rows:
        s.notes.append(missing_note([rep]))
        return s
    s.notes.append("(Nx) = how many times the peer's time per call is the pool's; reserved / live = memory held at "
                   "the peak over memory in use at the peak.")
    names = dict([(pool_name, "unimem pool")] + peers)
    parts = []
    for key, vals in res_live.items():
        lo, hi = min(vals), max(vals)
        parts.append(f"{names.get(key, key)} {fmt_num(lo)}" + ("" if fmt_num(lo) == fmt_num(hi) else f"-{fmt_num(hi)}"))
    if parts:
        s.notes.append("reserved / live on these traces: " + ", ".join(parts) + ".")
    if not gpu:
        s.notes.append("without a GPU the pool runs over host memory against malloc; cub, the CUDA pool and cudaMalloc "
                       "need a GPU.")
    return s


def pinned_pool(files):
    pp = files["bench_pinned_pool"]
    s = Section("pinned_pool", "Pinned pool against cudaMallocHost: one allocate + free pair", "bench_pinned_pool")
    sizes = sorted({int(r["name"].split("/")[1]) for r in pp.runs if r["name"].startswith("bm_cuda_malloc_host/")})
    for size in sizes:
        base = pp.find(f"bm_cuda_malloc_host/{size}")
        pool = pp.find(f"bm_pool_pinned/learned/{size}")
        fixed = pp.find(f"bm_fixed_block_pinned/{size}")
        if base is None:
            continue
        tb = seconds(base)
        cells = {"cudaMallocHost + cudaFreeHost": cell(fmt_seconds(tb), tb * 1e6, "us", "lower")}
        for label, r in (("unimem pool", pool), ("fixed_block_pool", fixed)):
            if r is not None:
                t = seconds(r)
                cells[label] = cell(f"{fmt_seconds(t)} ({fmt_num(tb / t, 2)}x)", t * 1e9, "ns", "lower",
                                    speedup=tb / t)
        s.add_row(fmt_bytes(size), cells)
    if not s.rows:
        s.notes.append(missing_note([pp]))
    else:
        s.notes.append("(Nx) = how many times faster than cudaMallocHost + cudaFreeHost, same run.")
    return s


def zero_copy(files):
    zc = files["bench_zero_copy"]
    s = Section("zero_copy", "Zero-copy against copy", "bench_zero_copy")
    cases = [("1080p frame: kernel on a ring slot in place", "frame_1080p/zero_copy_ring_slot",
              "frame_1080p/copy_to_pinned_and_upload", "memcpy to pinned + upload + kernel"),
             ("1080p frame: kernel on an imported memfd", "frame_1080p/zero_copy_imported_memfd",
              "frame_1080p/copy_to_pinned_and_upload", "memcpy to pinned + upload + kernel"),
             ("frame handoff (frame_ring)", "frame_ring/handoff", "pipe/handoff", "a pipe"),
             ("round trip between threads (frame_ring)", "frame_ring/ping_pong", "pipe/ping_pong", "a pipe")]
    for what, subject, peer, peer_text in cases:
        a, b = zc.find(subject), zc.find(peer)
        if a is None:
            continue
        ta = seconds(a)
        cells = {"unimem": cell(fmt_seconds(ta), ta * 1e6, "us", "lower")}
        if b is not None:
            tb = seconds(b)
            cells["the usual way"] = cell(f"{fmt_seconds(tb)} ({peer_text})", tb * 1e6, "us", "lower")
            cells["speed-up"] = cell(f"{fmt_num(tb / ta, 2)}x", tb / ta, "x", "higher")
        s.add_row(what, cells)
    if not s.rows:
        s.notes.append(missing_note([zc]))
    return s


def host_side(files):
    """What runs on any machine: the pools' per-call cost on the CPU, the planner."""
    ops, plan = files["bench_pool_ops"], files["bench_planner"]
    s = Section("host_side", "Host side: pool bookkeeping and the planner", "bench_pool_ops, bench_planner")
    for what, pool, peer in (("pool allocate + free, 4 KiB, host memory", "bm_pair_pool/learned/4096", "bm_pair_malloc/4096"),
                             ("random mix of 256 B..4 MiB blocks", "bm_mix_pool/tlsf", "bm_mix_malloc")):
        p, m = ops.find(pool), ops.find(peer)
        if not (p and m):
            continue
        tp, tm = seconds(p), seconds(m)
        s.add_row(what, {
            "unimem": cell(fmt_seconds(tp), tp * 1e9, "ns", "lower"),
            "peer": cell(f"{fmt_seconds(tm)} (malloc)", tm * 1e9, "ns", "lower"),
            "speed-up": cell(f"{fmt_num(tm / tp, 2)}x", tm / tp, "x", "higher")})
    plans = [r for r in plan.runs if r["name"].startswith("plan/") and r.get("arena_over_lb")]
    recorded = [r for r in plans if r["name"].split("/")[1] in ("lifetimes", "alloc-traces", "workload-traces")]
    if recorded:
        at_lb = sum(1 for r in recorded if r["arena_over_lb"] <= 1.0 + 1e-9)
        worst = max(r["arena_over_lb"] for r in recorded)
        greedy = [r["greedy_by_size_over_lb"] for r in recorded if r.get("greedy_by_size_over_lb")]
        peer = f"greedy-by-size worst {fmt_num(max(greedy))}x" if greedy else None
        s.add_row("planner: arena over the lower bound, recorded models and traces", {
            "unimem": cell(f"{at_lb} of {len(recorded)} at it, worst {fmt_num(worst)}x", worst, "x", "lower"),
            "peer": cell(peer) if peer else None})
    big = [r for r in plans if r["name"].startswith("plan/family/") and r.get("tensors") == 100000]
    if big:
        slowest = max(big, key=lambda r: seconds(r))
        t = seconds(slowest)
        s.add_row("planner: 100 000 tensors, slowest synthetic family", {
            "unimem": cell(f"{fmt_seconds(t)} ({slowest['name'].split('/')[2]})", t * 1e3, "ms", "lower")})
    mm = [r for r in plans if r["name"].startswith("plan/minimalloc/") and "target_reached" in r]
    if mm:
        reached = sum(1 for r in mm if r["target_reached"])
        s.add_row("planner: MiniMalloc's challenging set, to its capacity", {
            "unimem": cell(f"{reached} of {len(mm)}", reached, "instances", "higher")})
    if not s.rows:
        s.notes.append(missing_note([ops, plan]))
    return s


def residency(files):
    res = files["bench_residency"]
    prefix = "device" if res.find("device/resident_hit") or res.find("device/churn/managed") else "host"
    over = "the memory the policy picks on this GPU" if prefix == "device" else "host memory"
    s = Section("residency", f"Several models under one budget (residency_manager), over {over}", "bench_residency")
    for what, case in (("first request, from an empty process", "first_request"),
                       ("requests cycling through the three models", "churn")):
        cells = {}
        for col, variant in (("all resident", "all_resident"), ("under the budget", "managed")):
            r = res.find(f"{prefix}/{case}/{variant}")
            if r is None:
                continue
            t = seconds(r)
            text = fmt_seconds(t)
            if r.get("peak_MiB"):
                text += f", {fmt_num(r['peak_MiB'])} MiB at the peak"
            if r.get("loads_per_request"):
                text += f", {fmt_num(r['loads_per_request'])} loads per request"
            cells[col] = cell(text, t * 1e6, "us", "lower", peak_MiB=r.get("peak_MiB"))
        s.add_row(what, cells)
    hit = res.find(f"{prefix}/resident_hit")
    if hit:
        t = seconds(hit)
        s.add_row("acquire + release of a resident model", {"under the budget": cell(fmt_seconds(t), t * 1e6, "us",
                                                                                      "lower")})
    if not s.rows:
        s.notes.append(missing_note([res]))
    else:
        s.notes.append("three models (48, 32 and 64 MiB of weights); the budget holds the two largest: each request "
                       "cycling through them evicts one and loads the next (the worst case).")
    return s


# ------------------------------------------------------------------------------------------------
# Policy, left out, missing


def policy(probe):
    s = Section("policy", "Policy: which memory for each access pattern (unimem-probe)", "probe.json")
    recs = (probe or {}).get("recommendations") or []
    dev = (probe or {}).get("device") or {}
    if not recs or dev.get("simulated"):
        why = "probe.json is missing" if probe is None else "no GPU here"
        s.notes.append(f"no recommendation: {why}; `unimem-probe --simulate orin` (nano, tx2, xavier, orin, "
                       "orin-nx, orin-nano, thor, h100) shows a board's.")
        return s
    for r in recs:
        kind = r.get("kind", "?") + (f" + {r['staging']} staging" if r.get("staging") else "")
        s.add_row(r.get("pattern", "?"), {"memory": cell(kind), "why": cell(r.get("reason", ""))})
    return s


def missing_note(bench_files):
    """Why a section has nothing to show, from what its binaries left behind."""
    parts = []
    for f in bench_files:
        if f.status == "missing":
            parts.append(f"{f.name}: no results (not built, or not run)")
        elif f.status == "unreadable":
            parts.append(f"{f.name}: its JSON is incomplete (it stopped early; see {f.name}.txt)")
        elif f.left_out:
            parts.append(f"{f.name}: " + short_left_out(f.left_out, f.name))
        elif f.failed:
            parts.append(f"{f.name}: {len(f.failed)} runs failed, e.g. {f.failed[0][0]}: {f.failed[0][1]}")
        else:
            parts.append(f"{f.name}: nothing measured")
    return "not measured here — " + "; ".join(parts)


def short_left_out(line, name):
    prefix = name + ": "
    return line[len(prefix):] if line.startswith(prefix) else line


def read_run_log(results_dir):
    """run.tsv from scripts/run.sh: '# key value' lines, then 'binary<TAB>seconds<TAB>exit status'."""
    info, binaries = {}, {}
    try:
        with open(os.path.join(results_dir, "run.tsv")) as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("#"):
                    key, _, value = line[1:].strip().partition(" ")
                    info[key] = value
                elif line.strip():
                    name, secs, rc = (line.split("\t") + ["", ""])[:3]
                    binaries[name] = {"seconds": float(secs) if secs else None, "exit_status": int(rc) if rc else None}
    except (OSError, ValueError):
        pass
    return info, binaries


# ------------------------------------------------------------------------------------------------
# The summary


def summarize(results_dir):
    probe = load_json(os.path.join(results_dir, "probe.json"))
    names = sorted(set(BINARIES) | {f[:-5] for f in os.listdir(results_dir)
                                    if f.startswith("bench_") and f.endswith(".json")})
    files = {n: BenchFile(results_dir, n) for n in names}
    run_info, run_bins = read_run_log(results_dir)
    b = board(probe, files)
    mode = run_info.get("mode") or next((f.context["unimem_mode"].split(" ")[0] for f in files.values()
                                          if f.context.get("unimem_mode")), None)
    date = next((f.context.get("date") for f in files.values() if f.context.get("date")), None)
    sections = [memory_kinds(files, b), allocation(files), replay_pools(files), pinned_pool(files), zero_copy(files),
                residency(files), host_side(files), policy(probe)]
    if not b["gpu"]:
        # Without a GPU only host memory was measured: the GPU sections would all say the same.
        sections = [x for x in sections if x.rows or x.key in ("policy",)]
    gpu_reason = b.get("no_gpu_reason")
    left_out, missing = [], []
    for n, f in files.items():
        rb = run_bins.get(n, {})
        if rb.get("exit_status"):
            missing.append(f"{n} exited with status {rb['exit_status']} (see {n}.txt)")
        elif f.status == "unreadable":
            missing.append(f"{n}: its JSON is incomplete (see {n}.txt)")
        elif f.status == "missing" and n in run_bins:
            missing.append(f"{n}: ran but left no results")
        if f.left_out:
            line = f.left_out
            if gpu_reason:
                line = line.replace(f"no CUDA GPU ({gpu_reason})", "no CUDA GPU")
            left_out.append(line)
    not_run = [n for n, f in files.items() if f.status == "missing" and n not in run_bins]
    return {
        "format": FORMAT,
        "results_dir": os.path.abspath(results_dir),
        "date": date,
        "mode": mode,
        "board": b,
        "peaks": peaks(probe, files),
        "sections": [x.to_json() for x in sections if not x.empty()],
        "left_out": left_out,
        "missing": missing,
        "not_run": not_run,
        "run": {"info": run_info, "binaries": run_bins},
    }


def table_lines(section, markdown):
    cols = section["columns"]
    header = [""] + cols
    rows = [[r["name"]] + [r["cells"].get(c, {}).get("text", "-") for c in cols] for r in section["rows"]]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(x.replace("|", "/") for x in row) + " |" for row in rows]
        return out
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()  # noqa: E731
    return [fmt(header)] + [fmt(row) for row in rows]


LEFT_OUT = re.compile(r"^(\S+): left out (?:all (\d+)|(\d+) of (\d+)) benchmarks: (.*)$")


def grouped_left_out(lines, gpu_reason):
    """The binaries' left-out lines, those with the same reason on one line:
    'no CUDA GPU: bench_bandwidth (41 of 43 benchmarks), bench_latency (17 of 20), ...'."""
    groups, order, other = {}, [], []
    for line in lines:
        if gpu_reason:
            line = line.replace(f"no CUDA GPU ({gpu_reason})", "no CUDA GPU")
        m = LEFT_OUT.match(line)
        if not m:
            other.append(line)
            continue
        name, all_n, k, n, reason = m.groups()
        if reason not in groups:
            groups[reason] = []
            order.append(reason)
        groups[reason].append(f"{name} ({'all ' + all_n if all_n else k + ' of ' + n})")
    out = []
    for reason in order:
        names = groups[reason]
        if len(names) == 1:
            out.append(f"{names[0].replace(' (', ': left out ', 1).rstrip(')')} benchmarks: {reason}")
        else:
            out.append(f"{reason}: left out of " + ", ".join(names))
    return out + other


def render(summary, markdown=False):
    """The summary as text (markdown=False) or Markdown."""
    out = []
    b = summary["board"]
    h = (lambda t: f"### {t}") if markdown else (lambda t: t)
    bullet = "- " if markdown else "  "
    mode = summary.get("mode")
    title = "unimem summary" + (f" ({mode} sweep" + (f", {summary['date'][:10]}" if summary.get("date") else "") + ")"
                                if mode else "")
    out.append(f"## {title}" if markdown else f"== {title}")
    out.append("")
    out.append(bullet + b["line"])
    if b.get("line2"):
        out.append(bullet + b["line2"])
    if summary["peaks"]:
        out.append(bullet + "peaks (spec, not measured): " + "; ".join(
            f"{p['name']} {fmt_num(p['GBps'])} GB/s ({p['basis']})" for p in summary["peaks"]))
    if not b["gpu"]:
        out.append(bullet + "without a GPU only host-side figures were measured; every GPU benchmark was left out "
                   "(the lines at the end say which).")
    for s in summary["sections"]:
        out.append("")
        out.append(h(s["title"]) + ("" if markdown else f"  [{s['source']}]"))
        if markdown:
            out.append("")
            out.append("From " + ", ".join(f"`{x.strip()}`" for x in s["source"].split(",")) + ".")
            out.append("")
        if s["rows"]:
            out += table_lines(s, markdown)
            if markdown and s["notes"]:
                out.append("")
        for n in s["notes"]:
            out.append(bullet + n)
    if summary["left_out"] or summary["missing"] or summary["not_run"]:
        out.append("")
        out.append(h("Left out and missing"))
        if markdown:
            out.append("")
        for line in grouped_left_out(summary["left_out"], b.get("no_gpu_reason")):
            out.append(bullet + line)
        for line in summary["missing"]:
            out.append(bullet + "MISSING: " + line)
        if summary["not_run"]:
            out.append(bullet + "no results from: " + ", ".join(summary["not_run"]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="the results folder (scripts/run.sh: build/results)")
    ap.add_argument("--out", help="where summary.md and summary.json go (default: the results folder)")
    ap.add_argument("--quiet", action="store_true", help="write the files, print nothing")
    args = ap.parse_args()
    if not os.path.isdir(args.results):
        print(f"summarize_results.py: {args.results} is not a folder", file=sys.stderr)
        return 2
    summary = summarize(args.results)
    out = args.out or args.results
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
        fh.write("\n")
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(render(summary, markdown=True))
    if not args.quiet:
        sys.stdout.write(render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
