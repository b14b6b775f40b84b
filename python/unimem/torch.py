"""unimem's pool as PyTorch's CUDA allocator.

    import unimem.torch
    unimem.torch.use_unimem_allocator(budget="6GiB")   # before the first CUDA tensor
    import torch
    ...
    print(unimem.torch.memory_stats())

Every CUDA tensor PyTorch makes then comes from a unimem ``pool_resource`` on its device (one per
device, made on the device's first allocation). The options and their ``UNIMEM_TORCH_*``
environment variables are listed by :func:`options` and in docs/pytorch.md.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from . import _library

_lock = threading.Lock()
_installed: Optional[Dict[str, str]] = None
_allocator: Any = None  # PyTorch's wrapper, kept alive for the process

_TOO_LATE = (
    "unimem.torch.use_unimem_allocator() must run before PyTorch's first CUDA allocation, and CUDA is "
    "initialised in this process already (a CUDA tensor was made, or torch.cuda.init(), "
    "torch.cuda.get_device_name() or similar ran). Call it first thing after `import torch`, before any model "
    "or tensor goes to the GPU")


def _import_torch() -> Any:
    try:
        import torch  # noqa: PLC0415 (PyTorch is optional for the rest of the package)
    except ImportError as e:
        raise ImportError("unimem.torch needs PyTorch: install torch (with CUDA) first") from e
    return torch


def _option_text(key: str, value: Any) -> str:
    """The text the library parses. Booleans become "true"/"false", so that a flag given to a size
    option is refused by the library with its message rather than read as 1 byte."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"use_unimem_allocator: {key}={value}: sizes and counts are >= 0")
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"use_unimem_allocator: {key}={value!r} is a {type(value).__name__}; give a str "
                    f"(e.g. '6GiB', 'managed'), an int or a bool")


def options(library: Optional[str] = None) -> List[Dict[str, str]]:
    """The allocator's options: keyword, environment variable, values and meaning of each."""
    return [o for o in _library.load(library).options() if o["key"] != "library"]


def use_unimem_allocator(*, library: Optional[str] = None, **settings: Any) -> Dict[str, Any]:
    """Makes unimem's pool PyTorch's CUDA allocator for the rest of the process.

    Must run before PyTorch's first CUDA allocation. Keyword arguments override the
    ``UNIMEM_TORCH_*`` environment variables: ``upstream`` ("device", "managed", "policy"),
    ``budget`` (bytes per device, e.g. "6GiB"), ``initial_size``, ``growth_step``, ``fit``,
    ``learn_iterations``, ``max_learned_calls``, ``checked``, ``verbose``, ``trace`` (a path: each
    device's pool writes its calls there, see docs/pytorch.md) (see :func:`options`).
    Calling it again with the same settings does nothing.

    Args:
        library: the libunimem_torch.so to load (default: found as unimem._library.find_library
            says: $UNIMEM_TORCH_LIBRARY, this package's folder, the CMake install prefixes).
        **settings: the options above.

    Returns:
        The settings in force, as a dict.

    Raises:
        TypeError: an unknown option, or a value of the wrong type.
        ValueError: a value the library refuses, or a bad UNIMEM_TORCH_* variable (the message
            names it and what it takes).
        RuntimeError: CUDA is initialised already, PyTorch sees no GPU, or the allocator was
            installed already with other settings.
        ImportError: PyTorch is not installed.
        unimem.UnimemError: the library is missing or does not load (the message says how to
            build and install it).
    """
    global _installed, _allocator
    # PyTorch first: it loads its CUDA runtime, which the library then shares (same soname).
    torch = _import_torch()
    lib = _library.load(library)
    known = [o["key"] for o in lib.options() if o["key"] != "library"]
    texts: Dict[str, str] = {}
    for key, value in settings.items():
        if key not in known:
            raise TypeError(f"use_unimem_allocator() got an unexpected option {key!r}; the options are "
                            f"{', '.join(known)} (docs/pytorch.md)")
        texts[key] = _option_text(key, value)
    with _lock:
        if _installed is not None:
            if texts == _installed:
                return json.loads(lib.config_json())
            raise RuntimeError(f"unimem.torch: the allocator is installed already with {_installed or 'defaults'}; "
                               f"a running process cannot change it (asked for {texts or 'defaults'})")
        if not torch.cuda.is_available():
            raise RuntimeError("unimem.torch: PyTorch sees no CUDA device (torch.cuda.is_available() is False); the "
                               "allocator serves CUDA tensors only — check the driver, CUDA_VISIBLE_DEVICES, and "
                               "that this torch build has CUDA")
        if torch.cuda.is_initialized():
            raise RuntimeError(_TOO_LATE)
        if lib.started():
            raise RuntimeError(f"unimem.torch: {lib.path} already serves allocations in this process (loaded "
                               f"directly through CUDAPluggableAllocator?); its settings are fixed")
        lib.clear_options()
        try:
            for key, text in texts.items():
                lib.set_option(key, text)
            config = json.loads(lib.config_json())
        except BaseException:
            lib.clear_options()
            raise
        allocator = torch.cuda.memory.CUDAPluggableAllocator(str(lib.path), "unimem_torch_malloc",
                                                             "unimem_torch_free")
        try:
            torch.cuda.memory.change_current_allocator(allocator)
        except RuntimeError as e:
            raise RuntimeError(f"{_TOO_LATE} (PyTorch said: {e})") from e
        _installed, _allocator = texts, allocator
        return config


def is_installed() -> bool:
    """True once use_unimem_allocator() made unimem PyTorch's allocator in this process."""
    return _installed is not None


def _device_index(device: Any) -> int:
    if device is None:
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            return int(torch.cuda.current_device())
        return 0
    if isinstance(device, bool):
        raise TypeError("unimem.torch: device must be an int, a torch.device or 'cuda:N', not a bool")
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        text = device.strip()
        if text == "cuda":
            return _device_index(None)
        if text.startswith("cuda:") and text[5:].isdigit():
            return int(text[5:])
        raise ValueError(f"unimem.torch: device {device!r} is not 'cuda' or 'cuda:N'")
    index = getattr(device, "index", None)
    if getattr(device, "type", "cuda") != "cuda":
        raise ValueError(f"unimem.torch: device {device!r} is not a CUDA device")
    return _device_index(None) if index is None else int(index)


def memory_stats(device: Any = None) -> Dict[str, Any]:
    """The allocator's counters for one device (default: the current one).

    Keys: ``reserved_bytes``, ``peak_reserved_bytes`` (held from upstream now and at most),
    ``requested_bytes``, ``peak_requested_bytes`` (what PyTorch holds now and at most),
    ``live_bytes``, ``live_count``, ``chunk_count``, ``upstream_allocations``,
    ``upstream_deallocations`` (cudaMalloc/cudaFree calls), ``plans_built``, ``plan_divergences``,
    ``plan_active`` (iteration learning), ``allocations``, ``deallocations``,
    ``failed_allocations``, ``failed_deallocations``, ``budget_limit``, ``budget_used``,
    ``budget_peak``, ``frees_skipped_at_exit``, ``upstream_kind`` ("device", "managed"; None
    before the first allocation), ``device`` and ``has_pool``.
    """
    lib = _library.load()
    index = _device_index(device)
    has_pool, stats = lib.statistics(index)
    stats["device"] = index
    stats["has_pool"] = has_pool
    return stats


def memory_stats_all() -> Dict[int, Dict[str, Any]]:
    """memory_stats() of every device that has a pool."""
    lib = _library.load()
    out = {}
    for d in range(lib.device_limit()):
        has_pool, stats = lib.statistics(d)
        if has_pool:
            stats["device"], stats["has_pool"] = d, True
            out[d] = stats
    return out


def empty_cache(device: Any = None) -> int:
    """Returns the wholly free chunks of one device's pool (default: every device's) to CUDA,
    as torch.cuda.empty_cache() does for PyTorch's own allocator (which, with a pluggable
    allocator, does nothing). Returns the bytes released."""
    lib = _library.load()
    return lib.empty_cache(-1 if device is None else _device_index(device))
