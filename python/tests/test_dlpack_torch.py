"""unimem tensors into PyTorch through DLPack, on a GPU: every kind a kernel can reach arrives as
a CUDA tensor over the same memory (no copy), the CPU view of host-side kinds sees the kernels'
writes and the other way round, dtypes arrive as themselves, the stream handshake orders the
consumer after the producer, and the memory goes back once PyTorch lets go. Skipped with the
reason where PyTorch or a GPU is missing; failing instead under UNIMEM_REQUIRE_GPU=1."""
from __future__ import annotations

import ctypes
import gc

import pytest

import unimem
from unimem.tensor import KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED


def _capsule_name(capsule) -> str:
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
    return get_name(capsule).decode()


@pytest.mark.parametrize("kind", ["device", "managed", "pinned", "mapped"])
def test_every_kind_a_kernel_reaches_arrives_as_a_cuda_tensor_without_a_copy(torch_gpu, dlpack_library, kind):
    torch = torch_gpu
    t = unimem.empty((4, 5), "float32", kind=kind)
    assert t.__dlpack_device__() == (KDL_CUDA, 0)
    g = torch.from_dlpack(t)
    assert g.is_cuda and g.device.index == 0 and tuple(g.shape) == (4, 5) and g.dtype == torch.float32
    assert g.data_ptr() == t.device_ptr, "torch must use unimem's memory itself"
    src = torch.arange(20, dtype=torch.float32, device="cuda").reshape(4, 5)
    torch.add(src, 0.0, out=g)  # a kernel writes the unimem memory
    torch.cuda.synchronize()
    expected = [[float(5 * i + j) for j in range(5)] for i in range(4)]
    if kind == "device":
        assert t.device_ptr == t.data_ptr
        with pytest.raises(unimem.UnimemError, match="cannot dereference"):
            t.cpu_view().__dlpack__()
        assert g.cpu().tolist() == expected
        return
    c = torch.from_dlpack(t.cpu_view())
    assert c.device.type == "cpu" and c.data_ptr() == t.data_ptr
    assert c.tolist() == expected  # the CPU reads what the kernel wrote, in place
    c[0, 0] = -1.0
    seen = g[0, 0] == -1.0  # a kernel reads the CPU's write; the flag itself lands in device memory
    assert bool(seen.item())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "uint8", "int8", "int32", "int64", "bool"])
def test_dtypes_arrive_as_themselves(torch_gpu, dlpack_library, dtype):
    torch = torch_gpu
    if dtype == "bool" and dlpack_library.dlpack_support() < 2:
        pytest.skip("this build's dlpack.h predates kDLBool (DLPack 0.8)")
    g = torch.from_dlpack(unimem.empty((3, 2), dtype, kind="device"))
    assert g.dtype == getattr(torch, dtype) and tuple(g.shape) == (3, 2)


def test_a_versioned_capsule_reaches_torch(torch_gpu, dlpack_library):
    torch = torch_gpu
    if dlpack_library.dlpack_support() < 2:
        pytest.skip("this build's dlpack.h predates DLManagedTensorVersioned (DLPack 1.0)")
    t = unimem.empty((8,), "float32", kind="device")
    capsule = t.__dlpack__(max_version=(1, 0), stream=-1)
    assert _capsule_name(capsule) == "dltensor_versioned"
    g = torch.from_dlpack(capsule)
    assert g.data_ptr() == t.device_ptr
    assert _capsule_name(capsule) == "used_dltensor_versioned"  # torch took it; our destructor leaves it


def _warm_up_kernels(torch, *streams):
    # CUDA loads kernels lazily, and loading one can synchronize the context: the first mul_ or
    # fill_ of the process would then wait for the sleep whether or not the handshake ran, and
    # the ordering checks below could pass without it. Every kernel they use runs once first.
    scratch = torch.empty(16, device="cuda")
    for s in streams:
        with torch.cuda.stream(s):
            torch.cuda._sleep(1000)
            scratch.fill_(1.0)
            scratch.mul_(2.0)
    torch.cuda.synchronize()


def _fill_late_then_double(torch, t, producer, consumer, handshake):
    """The producer writes 3.0 after about 0.1 s of GPU time; the consumer doubles in place.
    Ordered, the result is 6.0; unordered, the doubling runs first and the fill overwrites it."""
    with torch.cuda.stream(producer):
        torch.cuda._sleep(200_000_000)  # about 0.1 s of GPU time before the write
        torch.from_dlpack(t).fill_(3.0)
    with torch.cuda.stream(consumer):
        # In place, so that no allocation runs here: an allocator that calls cudaFree (which
        # synchronizes the device) would hide a missing handshake.
        source = t if handshake else t.__dlpack__(stream=-1)  # -1: the consumer asks for no wait
        torch.from_dlpack(source).mul_(2.0)
    torch.cuda.synchronize()
    result = torch.from_dlpack(t.__dlpack__(stream=-1))  # read after the sync; leaves t's stream as it is
    return float(result[0].item()), bool((result == result[0]).all())


def test_the_consumer_stream_waits_for_the_tensor_stream(torch_gpu, dlpack_library):
    torch = torch_gpu
    producer, consumer = torch.cuda.Stream(), torch.cuda.Stream()
    _warm_up_kernels(torch, producer, consumer)
    n = 1 << 20
    # The control: with the handshake declined, the doubling overtakes the late fill. This shows
    # that the check below can see a missing handshake on this machine.
    control = unimem.empty((n,), "float32", kind="device", stream=producer)
    value, uniform = _fill_late_then_double(torch, control, producer, consumer, handshake=False)
    assert uniform and value == 3.0, (f"the control run came out {value} (uniform {uniform}), not 3.0: the unordered "
                                      "doubling did not overtake the late fill, so this test cannot see ordering")
    t = unimem.empty((n,), "float32", kind="device", stream=producer)
    assert t.stream == producer.cuda_stream
    value, uniform = _fill_late_then_double(torch, t, producer, consumer, handshake=True)
    assert uniform and value == 6.0, "the consumer's doubling was not ordered after the producer's write"
    assert t.stream == consumer.cuda_stream  # freed in order with the consumer's work from now on


def test_stream_arguments_follow_the_protocol(torch_gpu, dlpack_library):
    t = unimem.empty((4,), "float32", kind="device")
    with pytest.raises(ValueError, match="stream=0 is ambiguous"):
        t.__dlpack__(stream=0)
    with pytest.raises(TypeError, match="stream must be an int"):
        t.__dlpack__(stream="default")
    for stream in (None, 1, 2, -1):
        del_me = t.__dlpack__(stream=stream)  # legacy, legacy, per-thread, none: all accepted
        del del_me


def test_exact_kinds_are_kept_for_consumers_that_take_them(torch_gpu, dlpack_library):
    assert unimem.empty(4, kind="device").exact_view().__dlpack_device__() == (KDL_CUDA, 0)
    assert unimem.empty(4, kind="pinned").exact_view().__dlpack_device__() == (KDL_CUDA_HOST, 0)
    assert unimem.empty(4, kind="mapped").exact_view().__dlpack_device__() == (KDL_CUDA_HOST, 0)
    managed = unimem.empty(4, "float32", kind="managed")
    assert managed.exact_view().__dlpack_device__() == (KDL_CUDA_MANAGED, 0)
    try:
        import cupy
    except ImportError:
        return
    array = cupy.from_dlpack(managed.exact_view())
    assert array.data.ptr == managed.data_ptr


def test_memory_goes_back_when_torch_lets_go(torch_gpu, dlpack_library):
    torch = torch_gpu
    gc.collect()
    before = unimem.live_tensors()
    t = unimem.empty((1024,), "float32", kind="device")
    g = torch.from_dlpack(t)
    del t
    gc.collect()
    assert unimem.live_tensors() == before + 1
    del g
    gc.collect()
    assert unimem.live_tensors() == before


def test_an_empty_tensor_reaches_torch(torch_gpu, dlpack_library):
    g = torch_gpu.from_dlpack(unimem.empty((0, 3), "float32", kind="device"))
    assert g.is_cuda and tuple(g.shape) == (0, 3)
