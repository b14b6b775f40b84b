"""unimem tensors over host memory through DLPack, with NumPy as the consumer: the capsule's whole
life (taken, not taken, two views of one buffer) without a GPU. GPU kinds: test_dlpack_torch.py."""
from __future__ import annotations

import ctypes
import gc

import pytest

import unimem
from unimem import _library
from unimem.tensor import KDL_CPU, dtype_name


def _capsule_name(capsule) -> str:
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    return get_name(capsule).decode()


def test_dtypes_are_named_as_frameworks_name_them() -> None:
    assert dtype_name("float16") == "float16"
    assert dtype_name("half") == "float16"
    assert dtype_name("torch.bfloat16") == "bfloat16"
    assert dtype_name(type("dtype", (), {"name": "uint8"})()) == "uint8"  # numpy.dtype's .name
    with pytest.raises(TypeError, match="complex64"):
        dtype_name("complex64")


def test_bad_arguments_say_which_and_why(dlpack_library: _library.Library) -> None:
    with pytest.raises(ValueError, match="kind 'gpu'"):
        unimem.empty(4, kind="gpu")
    with pytest.raises(ValueError, match="extents are ints >= 0"):
        unimem.empty((2, -1), kind="host")
    with pytest.raises(ValueError, match="extents are ints >= 0"):
        unimem.empty((2.5,), kind="host")
    with pytest.raises(TypeError, match="shape must be"):
        unimem.empty(None, kind="host")
    with pytest.raises(ValueError, match="device must be"):
        unimem.empty(4, kind="host", device=True)
    with pytest.raises(TypeError, match="stream must be"):
        unimem.empty(4, kind="host", stream="s")


def test_a_host_tensor_is_seen_by_numpy_without_a_copy_and_freed_after_both_let_go(dlpack_library) -> None:
    np = pytest.importorskip("numpy")
    gc.collect()
    before = unimem.live_tensors()
    t = unimem.empty((2, 3), np.float32, kind="host")
    assert t.shape == (2, 3) and t.dtype == "float32" and t.kind == "host" and t.device is None
    assert t.nbytes == 24 and t.device_ptr is None and t.__dlpack_device__() == (KDL_CPU, 0)
    src = np.arange(6, dtype=np.float32)
    ctypes.memmove(t.data_ptr, src.ctypes.data, 24)
    a = np.from_dlpack(t)
    b = np.from_dlpack(t.cpu_view())
    assert a.ctypes.data == t.data_ptr == b.ctypes.data  # one buffer, no copy
    assert a.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert unimem.live_tensors() == before + 1
    del t
    gc.collect()
    assert unimem.live_tensors() == before + 1  # the arrays still hold it
    del a
    assert unimem.live_tensors() == before + 1
    del b
    assert unimem.live_tensors() == before


def test_a_capsule_nobody_took_releases_the_tensor(dlpack_library: _library.Library) -> None:
    gc.collect()
    before = unimem.live_tensors()
    with unimem.empty(16, "uint8", kind="host") as t:
        capsule = t.__dlpack__()
        assert _capsule_name(capsule) == "dltensor"
        versioned = t.__dlpack__(max_version=(1, 0))
        expected = "dltensor_versioned" if dlpack_library.dlpack_support() >= 2 else "dltensor"
        assert _capsule_name(versioned) == expected
    assert unimem.live_tensors() == before + 1
    del capsule
    assert unimem.live_tensors() == before + 1
    del versioned
    assert unimem.live_tensors() == before


def test_the_protocol_refuses_copies_and_other_devices(dlpack_library: _library.Library) -> None:
    t = unimem.empty((3,), "int32", kind="host")
    with pytest.raises(BufferError, match="copy=True"):
        t.__dlpack__(copy=True)
    with pytest.raises(BufferError, match="dl_device"):
        t.__dlpack__(dl_device=(2, 0))
    t.__dlpack__(dl_device=(KDL_CPU, 0), copy=False)  # its own device is fine
    assert t.exact_view().__dlpack_device__() == (KDL_CPU, 0)
    t.close()
    with pytest.raises(ValueError, match="released"):
        t.__dlpack__()


def test_empty_and_scalar_shapes(dlpack_library: _library.Library) -> None:
    np = pytest.importorskip("numpy")
    assert np.from_dlpack(unimem.empty((0, 4), "float32", kind="host")).shape == (0, 4)
    assert np.from_dlpack(unimem.empty((), "int64", kind="host")).shape == ()
