#!/usr/bin/env python3
"""Two boards side by side: the summary.json files that scripts/run.sh writes
(build/results/summary.json), each figure of one beside the same figure of the other, with their
ratio.

    python3 scripts/compare_results.py a/summary.json b/summary.json [--names A B]

The ratio is b / a. The last column says which board did better on that figure (higher bandwidth,
lower time), or '=' within 5%. Peaks are the specification's on both sides, labelled spec. A figure
only one summary has (a benchmark left out on one board) shows '-' on the other side. Python 3
standard library only.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_results import fmt_num, fmt_seconds, load_json  # noqa: E402
from summarize_results import FORMAT  # noqa: E402

# Columns that explain rather than measure: left out of the comparison.
TEXT_ONLY = {"why", "plain call", "unimem / plain"}


def figure_text(c):
    if c is None:
        return "-"
    if c.get("value") is None:
        return c.get("text", "-")
    unit = c.get("unit") or ""
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}.get(unit)
    if scale:
        text = fmt_seconds(c["value"] * scale)
    elif unit == "x":
        text = f"{fmt_num(c['value'])}x"
    else:
        text = f"{fmt_num(c['value'])} {unit}".strip()
    if c.get("of_peak"):
        text += f" ({c['of_peak'] * 100:.0f}%)"
    if " @" in c.get("text", ""):
        text += " @" + c["text"].rsplit(" @", 1)[1]  # measured at another size than the rest of its table
    return text


def verdict(a, b):
    """(ratio text, which is better) for two cells."""
    if not a or not b or a.get("value") is None or b.get("value") is None or a.get("unit") != b.get("unit"):
        return "", ""
    va, vb = a["value"], b["value"]
    if va == 0:
        return "", ""
    ratio = vb / va
    better = a.get("better") or b.get("better")
    if 0.95 <= ratio <= 1.05 or better not in ("higher", "lower"):
        return fmt_num(ratio), "=" if better else ""
    b_wins = (ratio > 1) == (better == "higher")
    return fmt_num(ratio), "b" if b_wins else "a"


def board_text(s):
    b = s.get("board", {})
    if not b.get("gpu"):
        return "no GPU"
    kind = "integrated" if b.get("integrated") else "discrete"
    parts = [b.get("name") or "?", kind, f"CC {b.get('compute_capability', '?')}"]
    if b.get("cuda_runtime"):
        parts.append(f"CUDA {b['cuda_runtime']}")
    return ", ".join(parts)


def merged(a_items, b_items, key):
    """The union of two lists of dicts by `key`, in a's order then b's."""
    seen, out = set(), []
    for item in list(a_items) + list(b_items):
        if item[key] not in seen:
            seen.add(item[key])
            out.append(item[key])
    return out


def compare(a, b, names):
    rows = []  # (label, a text, b text, ratio, better) or a heading (str)
    rows.append(("board", board_text(a), board_text(b), "", ""))
    rows.append(("sweep", a.get("mode") or "-", b.get("mode") or "-", "", ""))
    pa = {p["name"]: p for p in a.get("peaks", [])}
    pb = {p["name"]: p for p in b.get("peaks", [])}
    for name in merged(a.get("peaks", []), b.get("peaks", []), "name"):
        ca = {"value": pa[name]["GBps"], "unit": "GB/s", "better": "higher"} if name in pa else None
        cb = {"value": pb[name]["GBps"], "unit": "GB/s", "better": "higher"} if name in pb else None
        rows.append((f"peak {name} (spec)", figure_text(ca), figure_text(cb), *verdict(ca, cb)))
    sa = {s["key"]: s for s in a.get("sections", [])}
    sb = {s["key"]: s for s in b.get("sections", [])}
    for key in merged(a.get("sections", []), b.get("sections", []), "key"):
        x, y = sa.get(key), sb.get(key)
        title = (x or y)["title"]
        ra = {r["name"]: r["cells"] for r in (x or {}).get("rows", [])}
        rb = {r["name"]: r["cells"] for r in (y or {}).get("rows", [])}
        cols = merged([{"c": c} for c in (x or {}).get("columns", [])], [{"c": c} for c in (y or {}).get("columns", [])], "c")
        lines = []
        for row in merged([{"n": n} for n in ra], [{"n": n} for n in rb], "n"):
            for col in cols:
                if col in TEXT_ONLY:
                    continue
                ca, cb = ra.get(row, {}).get(col), rb.get(row, {}).get(col)
                if ca is None and cb is None:
                    continue
                lines.append((f"  {row}, {col}", figure_text(ca), figure_text(cb), *verdict(ca, cb)))
        if lines:
            rows.append(title)
            rows += lines
    return rows


def render(rows, names):
    header = ("", f"a: {names[0]}", f"b: {names[1]}", "b / a", "better")
    table = [r for r in rows if not isinstance(r, str)] + [header]
    widths = [min(max(len(r[i]) for r in table), cap) for i, cap in enumerate((64, 44, 44, 8, 6))]

    def line(r):
        return "  ".join(str(x)[:w].ljust(w) for x, w in zip(r, widths)).rstrip()

    out = [line(header)]
    for r in rows:
        out.append(r if isinstance(r, str) else line(r))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="the first summary.json")
    ap.add_argument("b", help="the second summary.json")
    ap.add_argument("--names", nargs=2, metavar=("A", "B"), help="what to call them (default: their boards)")
    args = ap.parse_args()
    summaries = []
    for path in (args.a, args.b):
        s = load_json(path)
        if s is None or s.get("format") != FORMAT:
            print(f"compare_results.py: {path} is not a summary.json of scripts/summarize_results.py "
                  f"(format '{FORMAT}')", file=sys.stderr)
            return 2
        summaries.append(s)
    names = args.names or [(s["board"].get("name") or "no GPU") for s in summaries]
    sys.stdout.write(render(compare(summaries[0], summaries[1], names), names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
