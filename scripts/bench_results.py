"""Reading the benchmarks' Google Benchmark JSON (--benchmark_out=FILE --benchmark_out_format=json)
and formatting their figures: shared by plot_benchmarks.py, summarize_results.py and
compare_results.py. Python 3 standard library only.

Both Google Benchmark 1.7 (error_occurred/error_message) and 1.8 (skipped/skip_message for a run
skipped on purpose) are read.
"""

import json
import math
import os

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

_SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def fmt_bytes(b):
    """4096 -> '4 KiB', 268435456 -> '256 MiB', 1000 -> '1000 B'."""
    b = int(b)
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if b >= size and b % size == 0:
            return f"{b // size} {unit}"
    return f"{b} B"


def fmt_num(x, digits=3):
    """`digits` significant digits, never fewer than the integer part: 55.43 -> '55.4', 4597.2 -> '4597'."""
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "–"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:.{decimals}f}"


def fmt_seconds(s):
    """A duration in the unit that reads best: 3.2e-08 -> '32.0 ns', 0.00086 -> '860 us', 2.5 -> '2.50 s'."""
    if s is None:
        return "–"
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3)):
        if abs(s) < scale * 1000:
            return f"{fmt_num(s / scale)} {unit}"
    return f"{fmt_num(s)} s"


def path_of(name):
    """The benchmark's path without its arguments and options:
    'copy_ce/h2d/pinned/4096/iterations:5/manual_time' -> 'copy_ce/h2d/pinned',
    'managed/on_demand/1048576/iterations:5/manual_time' -> 'managed/on_demand'."""
    parts = []
    for p in name.split("/"):
        if p.isdigit() or ":" in p or p in ("manual_time", "real_time"):
            break
        parts.append(p)
    return "/".join(parts) if parts else name


def seconds(run, key="real_time"):
    """A run's time (real_time by default) in seconds, whatever its time_unit."""
    if key not in run:
        return None
    return run[key] * _SECONDS_PER_UNIT.get(run.get("time_unit", "ns"), 1e-9)


def run_failed(run):
    return bool(run.get("error_occurred") or run.get("skipped"))


def run_message(run):
    return run.get("error_message") or run.get("skip_message") or ""


class BenchFile:
    """One binary's results: its JSON (context, runs) and its console log, either of which may be
    missing. `status` is 'ok' (runs to read), 'nothing ran' (everything left out here), 'missing'
    (neither file), or 'unreadable' (the JSON is not valid: the binary stopped early)."""

    def __init__(self, results_dir, name):
        self.name = name
        self.context = {}
        self.runs = []       # successful iteration runs
        self.failed = []     # (name, message) of runs that failed or were skipped while running
        self.left_out = None  # the binary's one left-out line, when it printed one
        self.status = "missing"
        json_path = os.path.join(results_dir, name + ".json")
        txt_path = os.path.join(results_dir, name + ".txt")
        text = _read_text(txt_path)
        if text is not None:
            prefix = name + ": left out "
            for line in text.splitlines():
                if line.startswith(prefix):
                    self.left_out = line.strip()
                    break
            self.status = "nothing ran"
        raw = _read_text(json_path)
        if raw is not None and raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                self.status = "unreadable"
                return
            self.context = data.get("context", {})
            self.left_out = self.context.get("unimem_left_out", self.left_out)
            for b in data.get("benchmarks", []):
                if b.get("run_type", "iteration") != "iteration":
                    continue  # aggregates of --benchmark_repetitions: the counters already hold medians
                if run_failed(b):
                    self.failed.append((b.get("name", "?"), run_message(b)))
                else:
                    self.runs.append(b)
            self.status = "ok" if self.runs or self.failed else "nothing ran"

    def find(self, name):
        """The run whose name is `name` or starts with `name` + '/' (arguments and options after it)."""
        for r in self.runs:
            n = r.get("name", "")
            if n == name or n.startswith(name + "/"):
                return r
        return None

    def by_path(self, prefix):
        """path -> runs sorted by their `bytes` (or `working_set`) counter, for paths under `prefix`."""
        out = {}
        for r in self.runs:
            p = path_of(r.get("name", ""))
            if p.startswith(prefix):
                out.setdefault(p, []).append(r)
        for v in out.values():
            v.sort(key=lambda r: r.get("bytes", r.get("working_set", 0)))
        return out


def _read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def load_json(path):
    """A JSON file as a dict, or None when it is missing or not valid JSON."""
    raw = _read_text(path)
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
