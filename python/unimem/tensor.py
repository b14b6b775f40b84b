"""unimem tensors for Python: memory from unimem's pools that PyTorch (or CuPy, JAX, NumPy) takes
through DLPack without a copy.

    frame = unimem.empty((480, 640, 3), "uint8", kind="mapped")   # zero-copy camera buffer
    cpu = torch.from_dlpack(frame.cpu_view())   # the CPU fills it ...
    gpu = torch.from_dlpack(frame)              # ... kernels read the same bytes (kDLCUDA)

Device types: every memory a kernel can reach (device, managed, pinned, mapped) is exported as
kDLCUDA through its device pointer, which is what ``torch.from_dlpack`` takes; host memory as
kDLCPU. ``exact_view()`` keeps the kinds (kDLCUDAHost, kDLCUDAManaged) for consumers that take
them (CuPy); ``cpu_view()`` is the CPU's view (kDLCPU) of any host-accessible memory.

Streams: ``__dlpack__(stream=s)`` makes the consumer's stream ``s`` wait for the tensor's stream
(an event, no host wait), and the memory is then freed in order with ``s`` once every holder let
go. The CPU view does no synchronisation: synchronise the GPU work that writes the memory before
the CPU reads it.
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Sequence, Tuple

from . import _library

KDL_CPU = 1
KDL_CUDA = 2
KDL_CUDA_HOST = 3
KDL_CUDA_MANAGED = 13

KINDS = ("device", "managed", "pinned", "mapped", "host")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
          "int64", "uint64", "bool", "float8_e4m3", "float8_e5m2")
_ALIASES = {"float": "float32", "half": "float16", "double": "float64", "long": "int64", "int": "int32",
            "short": "int16", "bool_": "bool", "float8_e4m3fn": "float8_e4m3"}

_ACCEPTED, _EXACT, _HOST = 0, 1, 2

# PyCapsule_New through ctypes, holding the GIL (PYFUNCTYPE); its own function object, so that no
# global ctypes.pythonapi attribute is changed.
_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(
    ("PyCapsule_New", ctypes.pythonapi))


def dtype_name(dtype: Any) -> str:
    """unimem's name of `dtype`: a name ("float16", "half"), a torch.dtype or a NumPy dtype.

    Raises:
        TypeError: not a data type unimem has.
    """
    if isinstance(dtype, str):
        name = dtype
    elif hasattr(dtype, "name") and isinstance(getattr(dtype, "name"), str):  # numpy.dtype
        name = dtype.name
    elif hasattr(dtype, "__name__"):  # numpy scalar types (numpy.float32)
        name = dtype.__name__
    else:
        name = str(dtype)  # torch.float16 prints as "torch.float16"
    name = _ALIASES.get(name.removeprefix("torch."), name.removeprefix("torch."))
    if name not in DTYPES:
        raise TypeError(f"unimem: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    return name


def _shape(shape: Any) -> Tuple[int, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"unimem.empty: shape must be an int or a sequence of ints, not {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise ValueError(f"unimem.empty: shape {shape!r} has {d!r}; extents are ints >= 0")
    return dims


def _stream_value(stream: Any, what: str) -> int:
    """A cudaStream_t value from None (0, the legacy default stream), an int, or a stream object
    (torch.cuda.Stream's ``cuda_stream``, CuPy's ``ptr``)."""
    if stream is None:
        return 0
    if isinstance(stream, bool):
        raise TypeError(f"{what}: stream must be an int or a stream object, not a bool")
    if isinstance(stream, int):
        value = stream
    elif hasattr(stream, "cuda_stream"):
        value = int(stream.cuda_stream)
    elif hasattr(stream, "ptr"):
        value = int(stream.ptr)
    else:
        raise TypeError(f"{what}: stream must be an int (a cudaStream_t) or have .cuda_stream/.ptr, "
                        f"not {type(stream).__name__}")
    if value < 0:
        raise ValueError(f"{what}: stream {value} is not a cudaStream_t")
    return value


class _View:
    """One DLPack face of a Tensor (see Tensor.cpu_view and Tensor.exact_view)."""

    def __init__(self, tensor: "Tensor", devices: int):
        self._tensor = tensor
        self._devices = devices

    def __dlpack_device__(self) -> Tuple[int, int]:
        return self._tensor._dlpack_device(self._devices)

    def __dlpack__(self, *, stream: Optional[int] = None, max_version: Optional[Tuple[int, int]] = None,
                   dl_device: Optional[Tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
        return self._tensor._export(self._devices, stream, max_version, dl_device, copy)


class Tensor:
    """A dense, row-major tensor in memory from one of unimem's pools.

    Make one with :func:`empty`. It is a DLPack producer (``__dlpack__``, ``__dlpack_device__``):
    ``torch.from_dlpack(t)`` gives a tensor over the same memory, and the memory lives until this
    object and every such consumer let go.
    """

    def __init__(self, lib: _library.Library, handle: int, shape: Tuple[int, ...], dtype: str, kind: str):
        self._lib = lib
        self._handle: Optional[int] = handle
        self._shape = shape
        self._dtype = dtype
        self._kind = kind

    # ---- what it is ----
    @property
    def shape(self) -> Tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> str:
        """unimem's dtype name ("float32", "uint8", ...)."""
        return self._dtype

    @property
    def kind(self) -> str:
        """The memory kind: "device", "managed", "pinned", "mapped" or "host"."""
        return self._kind

    def _info(self) -> Any:
        info = _library._TensorInfo()
        self._lib.check(self._lib.cdll.unimem_tensor_info_of(self._live_handle(), ctypes.byref(info),
                                                             ctypes.sizeof(info)))
        return info

    @property
    def device(self) -> Optional[int]:
        """The CUDA device it was allocated on; None for host memory."""
        d = self._info().device
        return None if d < 0 else int(d)

    @property
    def nbytes(self) -> int:
        return int(self._info().nbytes)

    @property
    def data_ptr(self) -> int:
        """The CPU's pointer (for device memory, the device pointer); 0 when empty."""
        return int(self._info().data or 0)

    @property
    def device_ptr(self) -> Optional[int]:
        """The pointer kernels use; None when no GPU can reach the memory."""
        p = self._info().device_data
        return None if p is None else int(p)

    @property
    def stream(self) -> int:
        """The stream (a cudaStream_t value) the memory is freed on; a handshake changes it."""
        return int(self._info().stream)

    def __repr__(self) -> str:
        if self._handle is None:
            return f"unimem.Tensor(released, shape={self._shape}, dtype={self._dtype}, kind={self._kind})"
        return f"unimem.Tensor(shape={self._shape}, dtype={self._dtype}, kind={self._kind}, device={self.device})"

    # ---- DLPack ----
    def __dlpack_device__(self) -> Tuple[int, int]:
        return self._dlpack_device(_ACCEPTED)

    def __dlpack__(self, *, stream: Optional[int] = None, max_version: Optional[Tuple[int, int]] = None,
                   dl_device: Optional[Tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
        """A DLPack capsule over this tensor's memory (the Python array API's protocol).

        Args:
            stream: the consumer's stream for CUDA exports: None (the legacy default stream), 1
                (legacy default), 2 (per-thread default), -1 (no synchronisation) or a
                cudaStream_t value. 0 is refused as ambiguous, as the protocol says.
            max_version: the highest DLPack version the consumer takes; (1, 0) or later gives a
                versioned capsule ("dltensor_versioned") when the library has one.
            dl_device: the device the consumer wants; only this tensor's own is possible.
            copy: True is refused: the point is not to copy.
        """
        return self._export(_ACCEPTED, stream, max_version, dl_device, copy)

    def cpu_view(self) -> _View:
        """The CPU's view (kDLCPU) of host-accessible memory (host, pinned, mapped, managed).

        Raises (on export):
            UnimemError: device memory, which the CPU cannot dereference.
        """
        return _View(self, _HOST)

    def exact_view(self) -> _View:
        """The memory kind's own DLPack device type: kDLCUDAHost for pinned and mapped memory,
        kDLCUDAManaged for managed memory (CuPy takes these; PyTorch 2.11 does not)."""
        return _View(self, _EXACT)

    def _live_handle(self) -> int:
        if self._handle is None:
            raise ValueError("unimem.Tensor: released (close() was called)")
        return self._handle

    def _dlpack_device(self, devices: int) -> Tuple[int, int]:
        t, i = ctypes.c_int32(), ctypes.c_int32()
        self._lib.check(self._lib.cdll.unimem_tensor_dlpack_device(self._live_handle(), devices, ctypes.byref(t),
                                                                   ctypes.byref(i)))
        return int(t.value), int(i.value)

    def _export(self, devices: int, stream: Any, max_version: Any, dl_device: Any, copy: Any) -> Any:
        device = self._dlpack_device(devices)
        if dl_device is not None and tuple(dl_device) != device:
            raise BufferError(f"unimem.Tensor.__dlpack__: dl_device {tuple(dl_device)} asked, but the memory is on "
                              f"{device} and unimem exports without copies")
        if copy:
            raise BufferError("unimem.Tensor.__dlpack__: copy=True asked, but unimem exports without copies; copy "
                              "in the consumer (e.g. torch.from_dlpack(t).clone())")
        handshake, consumer = 0, 0
        if device[0] != KDL_CPU:
            if stream is None:
                handshake, consumer = 1, 1  # the protocol: None means the legacy default stream
            elif isinstance(stream, int) and not isinstance(stream, bool):
                if stream == 0:
                    raise ValueError("unimem.Tensor.__dlpack__: stream=0 is ambiguous for CUDA (DLPack); pass 1 for "
                                     "the legacy default stream, 2 for the per-thread one, or -1 for none")
                if stream < -1:
                    raise ValueError(f"unimem.Tensor.__dlpack__: stream {stream} is not a stream")
                if stream != -1:
                    handshake, consumer = 1, stream
            else:
                raise TypeError(f"unimem.Tensor.__dlpack__: stream must be an int or None, not "
                                f"{type(stream).__name__}")
        versioned = int(max_version is not None and tuple(max_version) >= (1, 0)
                        and self._lib.dlpack_support() >= 2)
        out = ctypes.c_void_p()
        self._lib.check(self._lib.cdll.unimem_tensor_to_dlpack(self._live_handle(), devices, versioned, handshake,
                                                               consumer, ctypes.byref(out)))
        return _capsule(self._lib, out.value, versioned)

    # ---- lifetime ----
    def close(self) -> None:
        """Drops this object's reference now (consumers keep theirs)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.cdll.unimem_tensor_release(handle)

    def __enter__(self) -> "Tensor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: ctypes may be half gone; the process ends anyway
            pass


def _capsule(lib: _library.Library, managed: int, versioned: int) -> Any:
    """Wraps a DLPack struct in a capsule whose destructor (in the library) releases it unless a
    consumer took it."""
    lib.bind_capsules()
    name = lib.cdll.unimem_dlpack_capsule_name(versioned)
    destructor = ctypes.cast(lib.cdll.unimem_dlpack_capsule_destructor, ctypes.c_void_p).value
    try:
        return _capsule_new(managed, name, destructor)
    except BaseException:
        lib.cdll.unimem_dlpack_delete(managed, versioned)
        raise


def empty(shape: Any, dtype: Any = "float32", *, kind: str = "device", device: int = 0, stream: Any = None,
          library: Optional[str] = None) -> Tensor:
    """An uninitialised tensor from unimem's pool of `kind` on CUDA device `device`.

    Args:
        shape: extents (an int or a sequence of ints >= 0).
        dtype: "float32", "float16", "bfloat16", "uint8", ... or a torch/NumPy dtype.
        kind: "device" (cudaMalloc), "managed" (cudaMallocManaged), "pinned" (cudaHostAlloc),
            "mapped" (pinned and mapped: zero-copy on a Jetson) or "host" (no GPU needed).
        device: the CUDA device (ignored for "host").
        stream: the stream it is allocated and freed on: None (legacy default), an int
            (cudaStream_t) or a torch.cuda.Stream.
        library: the libunimem_torch.so to use (default: found as unimem._library.find_library says).

    Raises:
        TypeError, ValueError: bad arguments (the message says which).
        UnimemError: the library refused (out of memory, a kind the device lacks, built without
            dlpack.h), with its reason.
    """
    dims = _shape(shape)
    name = dtype_name(dtype)
    if kind not in KINDS:
        raise ValueError(f"unimem.empty: kind {kind!r} is not one of {', '.join(KINDS)}")
    if isinstance(device, bool) or not isinstance(device, int) or device < 0:
        raise ValueError(f"unimem.empty: device must be an int >= 0, not {device!r}")
    stream_value = _stream_value(stream, "unimem.empty")
    lib = _library.load(library)
    if lib.dlpack_support() == 0:
        raise _library.UnimemError(
            f"unimem.empty: {lib.path} was built without dlpack/dlpack.h, so it has no tensors; rebuild it with "
            f"-DUNIMEM_DLPACK_INCLUDE_DIR=<folder holding dlpack/dlpack.h> (bash bench/torch/run.sh does)")
    extents = (ctypes.c_int64 * max(1, len(dims)))(*dims)
    handle = ctypes.c_void_p()
    lib.check(lib.cdll.unimem_tensor_new(kind.encode(), name.encode(), len(dims), extents, device, stream_value,
                                         ctypes.byref(handle)))
    return Tensor(lib, handle.value, dims, name, kind)


def live_tensors(library: Optional[str] = None) -> int:
    """unimem tensors alive in this process (held by a Tensor or by a consumer): a leak check."""
    return int(_library.load(library).cdll.unimem_tensor_live_count())
