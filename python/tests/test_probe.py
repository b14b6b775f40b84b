"""unimem.probe(): the wrapper around `unimem-probe --json`, with stand-in executables and, where it
is built, the real probe showing a simulated board (no GPU needed)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import unimem
from conftest import ROOT


def _script(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "unimem-probe"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_the_report_is_parsed_and_the_arguments_passed(tmp_path: Path) -> None:
    exe = _script(tmp_path, 'printf \'{"args": "%s"}\' "$*"')
    report = unimem.probe(executable=str(exe), measure=False, device=1, simulate="orin")
    assert report == {"args": "--json --no-measure --device 1 --simulate orin"}


def test_a_failing_probe_reports_its_message(tmp_path: Path) -> None:
    exe = _script(tmp_path, 'echo "unimem-probe: no CUDA device" >&2; exit 3')
    with pytest.raises(RuntimeError, match="exit status 3.*no CUDA device"):
        unimem.probe(executable=str(exe))
    garbled = _script(tmp_path, "echo not json")
    with pytest.raises(RuntimeError, match="printed no JSON"):
        unimem.probe(executable=str(garbled))
    with pytest.raises(ValueError, match="device must be"):
        unimem.probe(executable=str(garbled), device=-2)


def test_finding_the_probe_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="UNIMEM_PROBE=.*is not an executable"):
        unimem.find_probe({"UNIMEM_PROBE": str(tmp_path / "missing")})
    exe = _script(tmp_path, "true")
    assert unimem.find_probe({"PATH": str(tmp_path)}) == exe
    with pytest.raises(FileNotFoundError, match="Build it"):
        unimem.find_probe({"PATH": str(tmp_path / "empty"), "UNIMEM_TORCH_LIBRARY": str(tmp_path / "none.so")})


def test_the_real_probe_shows_a_simulated_board() -> None:
    built = sorted(ROOT.glob("build*/tools/probe/unimem-probe"))
    if not built:
        pytest.skip("unimem-probe is not built in this checkout (UNIMEM_BUILD_TOOLS=ON builds it)")
    report = unimem.probe(executable=str(built[0]), measure=False, simulate="orin")
    assert isinstance(report, dict)
    assert "Orin" in str(report), "the simulated AGX Orin's profile should be in the report"
    assert os.access(built[0], os.X_OK)
