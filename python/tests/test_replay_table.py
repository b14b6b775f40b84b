"""scripts/replay_table.py without a GPU: the table of unimem-replay's JSON lines, from a fixture."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
replay_table = importlib.import_module("replay_table")


def _line(trace, resource, ratio, ns, **extra):
    d = {"trace": trace, "resource": resource, "reserved_over_live": ratio, "ns_per_op": ns}
    d.update(extra)
    return json.dumps(d)


def test_the_table_divides_each_peers_time_by_the_pools_in_the_same_run(tmp_path: Path) -> None:
    f = tmp_path / "replay.jsonl"
    f.write_text("\n".join([
        "unimem-replay: a note that is not JSON",
        _line("a", "pool_device", 1.0, 100.0, upstream_calls_last_pass=0),
        _line("a", "cub_pow2", 2.5, 500.0),
        _line("b", "pool_device", 1.09, 120.0, upstream_calls_last_pass=7),
        _line("b", "cub_pow2", 1.8, 480.0),
        _line("c", "cub_pow2", 1.5, 400.0),  # no pool row: left out
    ]) + "\n")
    rows = replay_table.load(str(f))
    md = replay_table.table(rows, "pool_device", ["cub_pow2", "cuda_mempool"])
    assert "| a | 1.000 | 100 | 0 | 2.50 | 500 | 5.0x |" in md
    assert "| b | 1.090 | 120 | 7 | 1.80 | 480 | 4.0x |" in md
    assert "cuda_mempool" not in md and "| c |" not in md  # absent peer and pool-less trace
    assert "worst reserved/live 1.090 over 2 traces" in md and "median speed-up over cub_pow2 4.5x (lowest 4.0x)" in md


def test_an_empty_file_is_an_error(tmp_path: Path, capsys) -> None:
    f = tmp_path / "empty.jsonl"
    f.write_text("")
    assert replay_table.main([str(f)]) == 1
    assert "no replay results" in capsys.readouterr().err
