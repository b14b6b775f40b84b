"""bench/torch/harness.py's plumbing without a GPU: a child run against a stand-in for PyTorch and
a stand-in workload, and the summary, table and chart from synthetic runs. The real runs need
the GPU machine (bash bench/torch/run.sh)."""
from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench" / "torch"))
harness = importlib.import_module("harness")
workloads = importlib.import_module("workloads")


def test_every_default_workload_is_defined_once_with_iteration_counts() -> None:
    assert len(workloads.HARNESS_WORKLOADS) == 7
    for name in workloads.HARNESS_WORKLOADS:
        w = workloads.WORKLOADS[name]
        assert w.name == name and w.description
        assert 2 <= w.quick_iterations <= w.iterations
    record = (ROOT / "bench" / "torch" / "record_traces.py").read_text()
    assert "def _generate" not in record and "workloads.run(" in record  # the recorder shares them


class FakeCuda:
    def __init__(self):
        self.synchronized = 0
        self.device_allocs = 3

    def synchronize(self):
        self.synchronized += 1

    def get_device_name(self, i):
        return "Fake GPU"

    def memory_stats(self):
        return {"requested_bytes.all.peak": 900, "num_device_alloc": self.device_allocs, "num_device_free": 1}

    def get_allocator_backend(self):
        return "native"

    def max_memory_reserved(self):
        return 2048

    def max_memory_allocated(self):
        return 1024


def test_a_child_run_times_the_iterations_after_the_first_and_reads_pytorchs_peaks(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    cuda = FakeCuda()
    fake = types.SimpleNamespace(cuda=cuda, manual_seed=lambda s: None, device=lambda *a: ("cuda", 0),
                                 __version__="0.0-fake", version=types.SimpleNamespace(cuda="13.0"))
    monkeypatch.setitem(sys.modules, "torch", fake)
    calls = []
    def step(i, rng):
        calls.append((i, rng.random()))
        cuda.device_allocs += 5 if i == 0 else 1 if i == 2 else 0  # upstream calls the iterations make

    monkeypatch.setitem(workloads.WORKLOADS, "fake", workloads.Workload(
        "fake", "a stand-in", 4, 2, lambda torch, dev, rng: (lambda i: step(i, rng))))
    out = tmp_path / "run.json"
    assert harness.child("fake", "pytorch", 4, 7, str(out)) == 0
    r = json.loads(out.read_text())
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert r["steady_iterations"] == 3 and r["steady_s"] >= 0 and r["first_iteration_s"] >= 0
    assert r["peak_reserved_bytes"] == 2048 and r["peak_in_use_bytes"] == 1024
    assert r["peak_requested_bytes"] == 900 and r["upstream_allocations"] == 9
    assert r["upstream_calls_setup"] == 4 and r["upstream_calls_per_iteration"] == [5, 0, 1, 0]
    assert r["device"] == "Fake GPU" and cuda.synchronized >= 3


def _run(name, allocator, reserved, in_use, steady, **extra):
    r = {"workload": name, "allocator": allocator, "peak_reserved_bytes": reserved, "peak_in_use_bytes": in_use,
         "steady_s": steady, "first_iteration_s": 0.5, "upstream_allocations": 10, "device": "Fake GPU",
         "torch": "2.11", "cuda": "13.0", "peak_requested_bytes": in_use}
    r.update(extra)
    return r


def test_the_summary_divides_by_pytorchs_allocated_peak_and_time(tmp_path: Path) -> None:
    runs = [_run("w", "pytorch", 300, 200, 1.0), _run("w", "expandable", 220, 200, 1.1),
            {"workload": "w", "allocator": "cudaMallocAsync", "error": "exit status 1", "stderr": "boom"},
            _run("w", "unimem", 210, 190, 1.5, unimem={"0": {"plans_built": 2}},
                 upstream_calls_per_iteration=[40, 3, 0, 0])]
    runs[0]["upstream_calls_per_iteration"] = [30, 0, 0, 0]
    allocators = list(harness.ALLOCATORS)
    summary = harness.summarise(runs, ["w"], allocators)
    cells = summary["w"]["allocators"]
    assert summary["w"]["pytorch_peak_allocated_bytes"] == 200
    assert cells["pytorch"]["reserved_over_pytorch_allocated"] == pytest.approx(1.5)
    assert cells["unimem"]["reserved_over_pytorch_allocated"] == pytest.approx(1.05)
    assert cells["unimem"]["wall_over_pytorch"] == pytest.approx(1.5)
    assert cells["unimem"]["plans_built"] == 2
    assert cells["unimem"]["upstream_calls_first_iteration"] == 40
    assert cells["unimem"]["upstream_calls_after_first"] == 3 and cells["pytorch"]["upstream_calls_after_first"] == 0
    assert cells["expandable"]["upstream_calls_after_first"] is None  # a run that did not count them
    assert cells["unimem"]["in_use_over_pytorch_requested"] == pytest.approx(0.95)
    assert cells["cudaMallocAsync"] == {"error": "exit status 1"}
    meta = {"mode": "quick", "device": "Fake GPU", "torch": "2.11", "cuda": "13.0", "date": "2026-12-01",
            "repeat": 1, "seed": 1}
    md = harness.markdown(summary, allocators, meta)
    assert "| w | 0.0 MiB | 1.50 | 1.10 | FAIL | 1.05 |" in md
    assert "| 0 / 3 | 2 |" in md  # upstream calls after the first iteration, PyTorch's and unimem's
    assert "Fake GPU" in md and "w / cudaMallocAsync: exit status 1" in md
    assert "0.950x PyTorch's" in md  # the request check flags a run whose requests differ
    png = harness.chart(summary, allocators, str(tmp_path / "r.png"), "title")
    if png is not None:
        assert Path(png).stat().st_size > 1000
