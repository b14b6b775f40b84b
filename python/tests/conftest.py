"""Shared test setup: the package from this checkout, the library from a build tree, and the rule
for GPU tests (skip with the reason where PyTorch or a GPU is missing; fail instead under
UNIMEM_REQUIRE_GPU=1)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
sys.path.insert(0, str(PYTHON_DIR))


def _use_built_library() -> None:
    """Points UNIMEM_TORCH_LIBRARY at a CMake build tree's library unless it is set (the tests then
    run against this checkout's build, and so do the subprocesses they start)."""
    if os.environ.get("UNIMEM_TORCH_LIBRARY"):
        return
    for lib in sorted(ROOT.glob("build*/integrations/torch_allocator/libunimem_torch.so")):
        os.environ["UNIMEM_TORCH_LIBRARY"] = str(lib)
        return


_use_built_library()

import unimem  # noqa: E402  (after the path and the library are set)
from unimem import _library  # noqa: E402


def gpu_required() -> bool:
    return os.environ.get("UNIMEM_REQUIRE_GPU") == "1"


def skip_or_fail(reason: str) -> None:
    if gpu_required():
        pytest.fail(f"UNIMEM_REQUIRE_GPU=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def library() -> _library.Library:
    """The built libunimem_torch (skipped where none is built; a failure under UNIMEM_REQUIRE_GPU=1)."""
    try:
        return _library.load()
    except _library.LibraryNotFound as e:
        skip_or_fail(f"libunimem_torch is not built ({str(e).splitlines()[0]})")
    raise AssertionError("unreachable")


@pytest.fixture
def dlpack_library(library: _library.Library) -> _library.Library:
    if library.dlpack_support() == 0:
        skip_or_fail("libunimem_torch was built without dlpack.h (configure with -DUNIMEM_DLPACK_INCLUDE_DIR)")
    return library


@pytest.fixture
def torch_gpu():
    """PyTorch with a CUDA device, in this process, and the library (loaded after PyTorch, so that
    it shares PyTorch's CUDA runtime, as use_unimem_allocator arranges too)."""
    try:
        import torch
    except ImportError:
        skip_or_fail("PyTorch is not installed")
    if not torch.cuda.is_available():
        skip_or_fail("PyTorch sees no CUDA device")
    try:
        _library.load()
    except _library.LibraryNotFound as e:
        skip_or_fail(f"libunimem_torch is not built ({str(e).splitlines()[0]})")
    return torch


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PYTHON_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    for key in [k for k in env if k.startswith("UNIMEM_TORCH_") and k != "UNIMEM_TORCH_LIBRARY"]:
        del env[key]
    env.update(extra or {})
    return env


def run_python(script: str, extra_env: Optional[Dict[str, str]] = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `script` in a fresh interpreter (an allocator can be installed once per process)."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                          env=child_env(extra_env), cwd=str(ROOT), check=False)
