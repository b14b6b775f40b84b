"""unimem for Python: pure Python over the installed C library (libunimem_torch.so).

- :mod:`unimem.torch`: unimem's pool as PyTorch's CUDA allocator
  (``use_unimem_allocator``, ``memory_stats``, ``empty_cache``).
- :func:`empty`: tensors from unimem's device, managed, pinned, mapped or host pools that
  ``torch.from_dlpack`` takes without a copy (:class:`Tensor`).
- :func:`probe`: ``unimem-probe --json`` as a dict.

Nothing here imports PyTorch until :mod:`unimem.torch` is used.
"""
from __future__ import annotations

from ._library import LibraryNotFound, UnimemError, find_library
from ._probe import find_probe, probe
from .tensor import Tensor, empty, live_tensors

__version__ = "0.1.0"

__all__ = ["LibraryNotFound", "Tensor", "UnimemError", "empty", "find_library", "find_probe", "live_tensors",
           "probe", "__version__"]
