#!/usr/bin/env python3
"""A markdown table of `unimem-replay --json` output: per trace, each resource's peak reserved over
peak live and median ns per call, the pool's upstream calls in its last pass, and how many times
faster the pool is than each peer measured in the same run.

    scripts/replay_table.py replay.jsonl [--pool pool_device] [--peer cub_pow2 --peer cuda_mempool ...]

Resources missing from the file are left out of the table; lines that are not JSON objects (a
tool's notes) are skipped.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Dict, List, Optional

DEFAULT_PEERS = ["cub_pow2", "cub_default", "cuda_mempool", "cuda_malloc"]


def load(path: str) -> Dict[str, Dict[str, dict]]:
    rows: Dict[str, Dict[str, dict]] = {}
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and "trace" in d and "resource" in d:
                rows.setdefault(d["trace"], {})[d["resource"]] = d
    return rows


def _num(d: Optional[dict], key: str) -> Optional[float]:
    v = (d or {}).get(key)
    return float(v) if isinstance(v, (int, float)) else None


def table(rows: Dict[str, Dict[str, dict]], pool: str, peers: List[str]) -> str:
    present = [p for p in peers if any(p in r for r in rows.values())]
    head = ["trace", f"{pool} reserved/live", "ns", "upstream calls, last pass"]
    for p in present:
        head += [f"{p} reserved/live", "ns", f"{pool} speed-up"]
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    worst, speedups = [], {p: [] for p in present}
    for trace in sorted(rows):
        r = rows[trace]
        if pool not in r:
            continue
        mine = r[pool]
        ratio, ns = _num(mine, "reserved_over_live"), _num(mine, "ns_per_op")
        worst.append(ratio or 0.0)
        cells = [trace, f"{ratio:.3f}" if ratio else "—", f"{ns:.0f}" if ns else "—",
                 str(mine.get("upstream_calls_last_pass", "—"))]
        for p in present:
            peer = r.get(p)
            pr, pns = _num(peer, "reserved_over_live"), _num(peer, "ns_per_op")
            up = pns / ns if pns and ns else None
            if up:
                speedups[p].append(up)
            cells += [f"{pr:.2f}" if pr else "—", f"{pns:.0f}" if pns else "—", f"{up:.1f}x" if up else "—"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if worst:
        out.append(f"{pool}: worst reserved/live {max(worst):.3f} over {len(worst)} traces; "
                   + "; ".join(f"median speed-up over {p} {statistics.median(v):.1f}x (lowest {min(v):.1f}x)"
                               for p, v in speedups.items() if v))
    return "\n".join(out) + "\n"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("--pool", default="pool_device")
    ap.add_argument("--peer", action="append", help="peer resources (default: %s)" % ", ".join(DEFAULT_PEERS))
    args = ap.parse_args(argv)
    rows = load(args.jsonl)
    if not rows:
        print(f"replay_table.py: no replay results in {args.jsonl}", file=sys.stderr)
        return 1
    sys.stdout.write(table(rows, args.pool, args.peer or DEFAULT_PEERS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
