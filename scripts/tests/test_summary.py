#!/usr/bin/env python3
"""The main job's summary (scripts/summarize_results.py) and the comparison of two boards
(scripts/compare_results.py) over two fixtures: data/cpu_run, a real run of scripts/run.sh's pieces
on the CI machine without a GPU (bench_planner trimmed to a few runs), and data/gpu_like, hand-written
in the shapes the benchmarks write on a discrete GPU (see its README). Run by ctest
(unimem_summary_scripts) or directly: python3 scripts/tests/test_summary.py
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
sys.path.insert(0, SCRIPTS)
from bench_results import fmt_num  # noqa: E402
CPU = os.path.join(HERE, "data", "cpu_run")
GPU = os.path.join(HERE, "data", "gpu_like")


def run(script, *args, expect=0):
    p = subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *args], capture_output=True, text=True)
    if p.returncode != expect:
        raise AssertionError(f"{script} {' '.join(args)} exited with {p.returncode}, expected {expect}:\n"
                             f"{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


class Summary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="unimem-summary-test-")
        cls.cpu_out = os.path.join(cls.tmp, "cpu")
        cls.gpu_out = os.path.join(cls.tmp, "gpu")
        cls.cpu_text = run("summarize_results.py", CPU, "--out", cls.cpu_out)
        cls.gpu_text = run("summarize_results.py", GPU, "--out", cls.gpu_out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def lines_with(self, text, *words):
        return [line for line in text.splitlines() if all(w in line for w in words)]

    def test_cpu_run_is_short_and_says_why(self):
        t = self.cpu_text
        self.assertIn("board: none — no CUDA GPU (cudaGetDeviceCount failed", t)
        self.assertIn("without a GPU only host-side figures were measured", t)
        # Host memory only: the pageable row with CPU figures, no GPU columns.
        self.assertEqual(len(self.lines_with(t, "pageable", " ns")), 1)
        self.assertNotIn("copy to GPU", t)
        self.assertIn("unimem pool (host memory)", t)
        self.assertIn("no recommendation: no GPU here", t)
        # One line for every binary whose GPU benchmarks were left out, the GPU's reason said once.
        grouped = self.lines_with(t, "no CUDA GPU: left out of")
        self.assertEqual(len(grouped), 1)
        for name in ("bench_bandwidth (41 of 43)", "bench_pinned_pool (all 4)", "bench_residency (5 of 10)",
                     "bench_tensor_view (all 4)"):
            self.assertIn(name, grouped[0])
        self.assertIn("bench_zero_copy: left out 3 of 7 benchmarks: frame_1080p/zero_copy_ring_slot", t)
        # Host-side figures: the residency manager over host memory, the pools, the planner.
        self.assertIn("over host memory", self.lines_with(t, "Several models under one budget")[0])
        self.assertIn("2 of 2", self.lines_with(t, "MiniMalloc's challenging set")[0])
        self.assertEqual(len(self.lines_with(t, "planner: 100 000 tensors, slowest synthetic family", " ms (")), 1)
        self.assertNotIn("ERROR OCCURRED", t)
        self.assertNotIn("MISSING", t)
        self.assertLess(len(t.splitlines()), 60)

    def test_gpu_board_and_spec_peaks(self):
        t = self.gpu_text
        self.assertIn("board: Fixture GPU (hand-written test data) — discrete GPU, compute capability 9.0, 132 SMs", t)
        self.assertIn("CUDA runtime 13.0, driver 13.0", t)
        self.assertIn("peaks (spec, not measured): DRAM 4800 GB/s (6144-bit x 3125 MHz x 2); PCIe 63.0 GB/s "
                      "(PCIe 32 GT/s x16 as read from sysfs, per direction)", t)

    def test_gpu_memory_kinds(self):
        t = self.gpu_text
        pinned = self.lines_with(t, "  pinned ")
        self.assertEqual(len(pinned), 1)
        # copy to GPU 55.0 of the 63.0 GB/s link, kernel in place 51.0, CPU latency 160 ns
        for figure in ("55.0 (87%)", "51.0 (81%)", "160 ns"):
            self.assertIn(figure, pinned[0])
        self.assertIn("4400 (92%)", self.lines_with(t, "  device ")[0])
        # The 256 MiB CPU read of write-combined memory was skipped while running: 1 MiB is shown, marked.
        self.assertIn("0.500 @1 MiB", self.lines_with(t, "  pinned_wc ")[0])
        self.assertIn("70 of 71 bandwidth and 12 of 12 latency measurements within 5%", t)
        self.assertIn("cudaMemPrefetchAsync + kernel 48.0 GB/s (76%)", t)

    def test_gpu_pools_allocation_zero_copy_policy(self):
        t = self.gpu_text
        row = self.lines_with(t, "resnet50_b8_float16")[0]
        for figure in ("40.0 ns", "400 ns (10x)", "2.40 us (60x)", "600 ns (15x)", "15.0 us (375x)"):
            self.assertIn(figure, row)
        self.assertIn("reserved / live on these traces: unimem pool 1.00, cub (pow2 bins) 2.50", t)
        self.assertIn("45.0 ns (14000x)", self.lines_with(t, "1 MiB", "630 us")[0])
        self.assertIn("6.10 ms", self.lines_with(t, "pinned_resource ")[0])
        self.assertIn("6.9x", self.lines_with(t, "kernel on a ring slot in place")[0])
        self.assertIn("device + pinned staging", self.lines_with(t, "cpu_writes_gpu_reads")[0])

    def test_gpu_left_out_and_missing(self):
        t = self.gpu_text
        self.assertIn("bench_bandwidth: left out 2 of 43 benchmarks: copy_sm/h2d/pageable, copy_sm/d2h/pageable: "
                      "a kernel reading or writing pageable memory needs pageableMemoryAccess = 1", t)
        self.assertIn("MISSING: bench_tensor_view exited with status 134", t)
        self.assertIn("not measured here — bench_pool_ops: no results (not built, or not run)", t)
        self.assertNotIn("ERROR OCCURRED", t)

    def test_files_written(self):
        for out in (self.cpu_out, self.gpu_out):
            with open(os.path.join(out, "summary.json")) as fh:
                s = json.load(fh)
            self.assertEqual(s["format"], "unimem-summary 1")
            with open(os.path.join(out, "summary.md")) as fh:
                md = fh.read()
            self.assertTrue(md.startswith("## unimem summary (quick sweep"))
            self.assertIn("|---|", md)
        with open(os.path.join(self.gpu_out, "summary.json")) as fh:
            s = json.load(fh)
        kinds = next(x for x in s["sections"] if x["key"] == "memory_kinds")
        pinned = next(r for r in kinds["rows"] if r["name"] == "pinned")["cells"]["copy to GPU"]
        self.assertEqual(pinned["unit"], "GB/s")
        self.assertAlmostEqual(pinned["value"], 55.0)
        self.assertEqual(pinned["source"], "copy_ce/h2d/pinned")
        self.assertEqual([p["spec"] for p in s["peaks"]], [True, True])

    def test_missing_and_broken_files(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        t = run("summarize_results.py", empty, "--quiet")
        self.assertEqual(t, "")
        with open(os.path.join(empty, "summary.md")) as fh:
            self.assertIn("board unknown: probe.json is missing", fh.read())
        broken = os.path.join(self.tmp, "broken")
        shutil.copytree(GPU, broken)
        with open(os.path.join(broken, "bench_replay.json"), "r+") as fh:
            fh.truncate(500)  # a binary that died while writing
        os.remove(os.path.join(broken, "bench_latency.json"))
        t = run("summarize_results.py", broken, "--out", os.path.join(self.tmp, "broken-out"))
        self.assertIn("bench_replay: its JSON is incomplete", t)
        self.assertIn("copy to GPU", t)  # the rest is still summarized
        self.assertNotIn("GPU latency", t)
        run("summarize_results.py", os.path.join(self.tmp, "no-such-folder"), expect=2)


class Compare(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="unimem-compare-test-")
        for name, src in (("cpu", CPU), ("gpu", GPU)):
            run("summarize_results.py", src, "--out", os.path.join(cls.tmp, name), "--quiet")
        cls.a = os.path.join(cls.tmp, "gpu", "summary.json")
        cls.b = os.path.join(cls.tmp, "cpu", "summary.json")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_side_by_side(self):
        t = run("compare_results.py", self.a, self.b, "--names", "fixture", "ci")
        lines = t.splitlines()
        self.assertIn("a: fixture", lines[0])
        self.assertIn("b: ci", lines[0])
        peak = next(line for line in lines if line.startswith("peak DRAM (spec)"))
        self.assertIn("4800 GB/s", peak)
        self.assertTrue(peak.rstrip().endswith("-"))  # the CI machine has no GPU, so no peak
        # A figure both have, with b / a and which board did better.
        cpu_read = next(line for line in lines if "pageable, CPU read" in line)
        with open(self.b) as fh:
            b = json.load(fh)
        kinds = next(x for x in b["sections"] if x["key"] == "memory_kinds")
        b_read = next(r for r in kinds["rows"] if r["name"] == "pageable")["cells"]["CPU read"]["value"]
        self.assertIn("10.1 GB/s", cpu_read)
        self.assertIn(f"  {fmt_num(b_read / 10.1)}  ", cpu_read)
        self.assertTrue(cpu_read.rstrip().endswith("b" if b_read > 10.1 * 1.05 else "a" if b_read < 10.1 * 0.95 else "="))
        self.assertIn("0.500 GB/s @1 MiB", t)
        self.assertIn("pageable, copy to GPU", t)

    def test_same_summary_is_equal(self):
        t = run("compare_results.py", self.a, self.a)
        rows = [line for line in t.splitlines() if "GB/s" in line and "peak" not in line]
        self.assertTrue(rows)
        for line in rows:
            self.assertTrue(line.rstrip().endswith("1.00   ="), line)

    def test_not_a_summary(self):
        out = run("compare_results.py", self.a, os.path.join(CPU, "probe.json"), expect=2)
        self.assertIn("is not a summary.json", out)


if __name__ == "__main__":
    unittest.main(verbosity=1)
