"""use_unimem_allocator's checks and errors against a stand-in for PyTorch: runs anywhere the
library is built (no GPU, no PyTorch). The real thing is test_torch_gpu.py."""
from __future__ import annotations

import sys
import types
from typing import List, Tuple

import pytest

import unimem.torch as ut
from unimem import _library


class FakeCuda:
    def __init__(self, available: bool = True, initialized: bool = False, swap_error: str = ""):
        self.available, self.initialized, self.swap_error = available, initialized, swap_error
        self.made: List[Tuple[str, str, str]] = []
        self.swapped: List[object] = []
        outer = self

        class CUDAPluggableAllocator:
            def __init__(self, path: str, alloc: str, free: str):
                outer.made.append((path, alloc, free))

        def change_current_allocator(allocator: object) -> None:
            if outer.swap_error:
                raise RuntimeError(outer.swap_error)
            outer.swapped.append(allocator)

        self.memory = types.SimpleNamespace(CUDAPluggableAllocator=CUDAPluggableAllocator,
                                            change_current_allocator=change_current_allocator)

    def is_available(self) -> bool:
        return self.available

    def is_initialized(self) -> bool:
        return self.initialized

    def current_device(self) -> int:
        return 0


@pytest.fixture
def fake_torch(library: _library.Library, monkeypatch):
    """A `torch` module whose CUDA part records what the package does with it."""
    if library.started():
        pytest.skip("the allocator serves this process already")
    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    monkeypatch.setattr(ut, "_installed", None)
    monkeypatch.setattr(ut, "_allocator", None)
    library.clear_options()
    yield cuda
    library.clear_options()


def test_unknown_options_and_wrong_types_are_refused_before_anything_happens(fake_torch: FakeCuda) -> None:
    with pytest.raises(TypeError, match=r"unexpected option 'bugdet'.*budget.*docs/pytorch.md"):
        ut.use_unimem_allocator(bugdet="1G")
    with pytest.raises(TypeError, match=r"budget=\[1\] is a list"):
        ut.use_unimem_allocator(budget=[1])
    with pytest.raises(ValueError, match="budget=-5"):
        ut.use_unimem_allocator(budget=-5)
    assert fake_torch.made == [] and fake_torch.swapped == []


def test_values_the_library_refuses_name_the_variable_and_leave_no_option_behind(fake_torch: FakeCuda,
                                                                               library: _library.Library) -> None:
    with pytest.raises(ValueError, match=r"UNIMEM_TORCH_BUDGET.*'lots'"):
        ut.use_unimem_allocator(upstream="managed", budget="lots")
    with pytest.raises(ValueError, match=r"UNIMEM_TORCH_BUDGET.*'true'"):
        ut.use_unimem_allocator(budget=True)  # a flag is not a size
    assert '"upstream": "policy"' in library.config_json()  # the half-applied options were undone
    assert fake_torch.swapped == []


def test_a_trace_path_may_be_a_path_object(fake_torch: FakeCuda, library: _library.Library, tmp_path) -> None:
    config = ut.use_unimem_allocator(trace=tmp_path / "run.csv.gz")
    assert config["trace"] == str(tmp_path / "run.csv.gz")


def test_too_late_and_no_gpu_say_what_to_do(fake_torch: FakeCuda) -> None:
    fake_torch.initialized = True
    with pytest.raises(RuntimeError, match="must run before PyTorch's first CUDA allocation"):
        ut.use_unimem_allocator()
    fake_torch.initialized = False
    fake_torch.swap_error = "Can't swap an already initialized allocator"
    with pytest.raises(RuntimeError, match=r"must run before.*Can't swap"):
        ut.use_unimem_allocator()
    fake_torch.swap_error = ""
    fake_torch.available = False
    with pytest.raises(RuntimeError, match=r"no CUDA device.*is_available"):
        ut.use_unimem_allocator()


def test_installing_hands_pytorch_the_library_and_its_function_names(fake_torch: FakeCuda,
                                                                   library: _library.Library) -> None:
    config = ut.use_unimem_allocator(budget="1GiB", fit="best_fit", learn_iterations=False, verbose=True)
    assert config["budget"] == 1 << 30 and config["fit"] == "best_fit"
    assert config["learn_iterations"] is False and config["verbose"] is True
    assert fake_torch.made == [(str(library.path), "unimem_torch_malloc", "unimem_torch_free")]
    assert len(fake_torch.swapped) == 1 and ut.is_installed()
    assert ut.use_unimem_allocator(budget="1GiB", fit="best_fit", learn_iterations=False, verbose=True) == config
    assert len(fake_torch.swapped) == 1  # the same settings again: nothing to do
    with pytest.raises(RuntimeError, match="installed already"):
        ut.use_unimem_allocator(budget="2GiB")


def test_devices_are_named_as_pytorch_names_them(library: _library.Library) -> None:
    assert ut._device_index(3) == 3
    assert ut._device_index("cuda:1") == 1
    assert ut._device_index(types.SimpleNamespace(type="cuda", index=2)) == 2
    with pytest.raises(ValueError, match="not a CUDA device"):
        ut._device_index(types.SimpleNamespace(type="cpu", index=None))
    with pytest.raises(ValueError, match="'cuda:x'"):
        ut._device_index("cuda:x")
    with pytest.raises(TypeError):
        ut._device_index(True)
    stats = ut.memory_stats("cuda:0")
    assert stats["device"] == 0 and "peak_reserved_bytes" in stats
