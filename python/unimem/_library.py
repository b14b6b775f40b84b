"""Finding and loading libunimem_torch.so, and its C functions as Python calls (ctypes).

The library is looked for, in order, at:

1. ``$UNIMEM_TORCH_LIBRARY`` (a path to the file),
2. this package's own folder (a copy placed there before ``pip install``),
3. the ``lib`` folders of the CMake install prefixes: ``$UNIMEM_PREFIX``, each entry of
   ``$CMAKE_PREFIX_PATH``, ``sys.prefix``, ``/usr/local`` and ``/usr``,
4. the dynamic linker's search path (``ctypes.util.find_library``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

LIBRARY_NAME = "libunimem_torch.so"
ABI_VERSION = 1  # UNIMEM_TORCH_ABI_VERSION in unimem/torch_allocator.h

STAT_FIELDS: Tuple[str, ...] = (
    "reserved_bytes", "peak_reserved_bytes", "live_bytes", "live_count", "chunk_count",
    "upstream_allocations", "upstream_deallocations", "plans_built", "plan_divergences", "plan_active",
    "requested_bytes", "peak_requested_bytes", "allocations", "deallocations", "failed_allocations",
    "failed_deallocations", "budget_limit", "budget_used", "budget_peak", "frees_skipped_at_exit",
)


class UnimemError(RuntimeError):
    """A call into libunimem_torch failed; the message says what and how to fix it."""


class LibraryNotFound(UnimemError, FileNotFoundError):
    """libunimem_torch.so is not where the package looked."""


class _Stats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in STAT_FIELDS] + [
        ("upstream_kind", ctypes.c_int32), ("padding_", ctypes.c_int32)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p), ("device_data", ctypes.c_void_p), ("nbytes", ctypes.c_uint64),
        ("stream", ctypes.c_uint64), ("kind", ctypes.c_int32), ("device", ctypes.c_int32),
        ("host_accessible", ctypes.c_int32), ("device_accessible", ctypes.c_int32),
    ]


def _lib_dirs(prefix: Path) -> List[Path]:
    return [prefix / "lib", prefix / "lib64", prefix / "lib" / "x86_64-linux-gnu",
            prefix / "lib" / "aarch64-linux-gnu"]


def candidate_paths(environ: Optional[Dict[str, str]] = None) -> List[Path]:
    """Where the library is looked for (after ``$UNIMEM_TORCH_LIBRARY``), in order."""
    env = os.environ if environ is None else environ
    out = [Path(__file__).resolve().parent / LIBRARY_NAME]
    prefixes: List[Path] = []
    if env.get("UNIMEM_PREFIX"):
        prefixes.append(Path(env["UNIMEM_PREFIX"]))
    prefixes += [Path(p) for p in env.get("CMAKE_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes += [Path(sys.prefix), Path("/usr/local"), Path("/usr")]
    for prefix in prefixes:
        out += [d / LIBRARY_NAME for d in _lib_dirs(prefix)]
    return out


def find_library(environ: Optional[Dict[str, str]] = None) -> Path:
    """The path of libunimem_torch.so.

    Raises:
        LibraryNotFound: ``$UNIMEM_TORCH_LIBRARY`` names a missing file, or no candidate exists;
            the message lists where it looked and how to build and install the library.
    """
    env = os.environ if environ is None else environ
    explicit = env.get("UNIMEM_TORCH_LIBRARY")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise LibraryNotFound(
                f"unimem: UNIMEM_TORCH_LIBRARY={explicit} is not a file; point it at the built "
                f"{LIBRARY_NAME} (build/integrations/torch_allocator/{LIBRARY_NAME} in a CMake build tree, "
                f"<prefix>/lib/{LIBRARY_NAME} once installed) or unset it")
        return path
    looked = candidate_paths(env)
    for path in looked:
        if path.is_file():
            return path
    found = ctypes.util.find_library("unimem_torch")
    if found:
        return Path(found)
    listing = "\n  ".join(str(p) for p in looked)
    raise LibraryNotFound(
        f"unimem: {LIBRARY_NAME} not found. Looked at:\n  {listing}\n  and the dynamic linker's path.\n"
        f"Build and install it from the unimem sources:\n"
        f"  cmake -S . -B build -DUNIMEM_BUILD_TESTS=OFF -DUNIMEM_BUILD_BENCHMARKS=OFF -DUNIMEM_BUILD_TOOLS=OFF\n"
        f"  cmake --build build --target unimem_torch && cmake --install build --prefix /usr/local\n"
        f"or set UNIMEM_TORCH_LIBRARY=/path/to/{LIBRARY_NAME} (or UNIMEM_PREFIX=<install prefix>).")


class Library:
    """libunimem_torch loaded with ctypes, its functions typed, errors raised as exceptions."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            # RTLD_GLOBAL is not needed: PyTorch dlopens the same path and gets the same copy.
            self.cdll = ctypes.CDLL(str(self.path))
        except OSError as e:
            raise UnimemError(
                f"unimem: cannot load {self.path}: {e}. If it names libcudart, make the CUDA runtime findable "
                f"(import torch first, which loads it, or add the CUDA toolkit's lib64 to LD_LIBRARY_PATH)") from e
        c = self.cdll
        self._sig(c.unimem_torch_abi_version, ctypes.c_int)
        abi = c.unimem_torch_abi_version()
        if abi != ABI_VERSION:
            raise UnimemError(
                f"unimem: {self.path} has ABI version {abi} but this Python package expects {ABI_VERSION}; "
                f"install the package and the library from the same unimem version")
        self._sig(c.unimem_torch_option_count, ctypes.c_int)
        self._sig(c.unimem_torch_option, ctypes.c_int, ctypes.c_int, *([ctypes.POINTER(ctypes.c_char_p)] * 4))
        self._sig(c.unimem_torch_set_option, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p)
        self._sig(c.unimem_torch_clear_options, ctypes.c_int)
        self._sig(c.unimem_torch_config_json, ctypes.c_char_p)
        self._sig(c.unimem_torch_started, ctypes.c_int)
        self._sig(c.unimem_torch_device_limit, ctypes.c_int)
        self._sig(c.unimem_torch_statistics, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Stats), ctypes.c_size_t)
        self._sig(c.unimem_torch_empty_cache, ctypes.c_int64, ctypes.c_int)
        self._sig(c.unimem_torch_last_error, ctypes.c_char_p)
        self._sig(c.unimem_memory_kind_name, ctypes.c_char_p, ctypes.c_int)
        self._sig(c.unimem_dlpack_support, ctypes.c_int)
        self._sig(c.unimem_tensor_new, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int32,
                  ctypes.POINTER(ctypes.c_int64), ctypes.c_int32, ctypes.c_uint64, ctypes.POINTER(ctypes.c_void_p))
        self._sig(c.unimem_tensor_release, None, ctypes.c_void_p)
        self._sig(c.unimem_tensor_info_of, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_TensorInfo),
                  ctypes.c_size_t)
        self._sig(c.unimem_tensor_live_count, ctypes.c_int64)
        self._sig(c.unimem_tensor_dlpack_device, ctypes.c_int, ctypes.c_void_p, ctypes.c_int32,
                  ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32))
        self._sig(c.unimem_tensor_to_dlpack, ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                  ctypes.c_int32, ctypes.c_uint64, ctypes.POINTER(ctypes.c_void_p))
        self._sig(c.unimem_dlpack_delete, None, ctypes.c_void_p, ctypes.c_int32)
        self._sig(c.unimem_dlpack_bind_python, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        self._sig(c.unimem_dlpack_capsule_name, ctypes.c_void_p, ctypes.c_int32)
        self._capsule_lock = threading.Lock()
        self._capsules_bound = False

    @staticmethod
    def _sig(fn, restype, *argtypes) -> None:
        fn.restype = restype
        fn.argtypes = list(argtypes)

    def last_error(self) -> str:
        return (self.cdll.unimem_torch_last_error() or b"").decode(errors="replace")

    def check(self, rc: int, error: type = UnimemError) -> int:
        """Raises `error` with the library's message when `rc` is -1."""
        if rc == -1:
            raise error(self.last_error() or "unimem: a libunimem_torch call failed")
        return rc

    # ---- settings ----
    def options(self) -> List[Dict[str, str]]:
        out = []
        for i in range(self.cdll.unimem_torch_option_count()):
            fields = [ctypes.c_char_p() for _ in range(4)]
            self.check(self.cdll.unimem_torch_option(i, *[ctypes.byref(f) for f in fields]))
            key, variable, values, meaning = (f.value.decode() for f in fields)
            out.append({"key": key, "variable": variable, "values": values, "meaning": meaning})
        return out

    def set_option(self, key: str, value: str) -> None:
        self.check(self.cdll.unimem_torch_set_option(key.encode(), value.encode()), ValueError)

    def clear_options(self) -> None:
        self.check(self.cdll.unimem_torch_clear_options())

    def config_json(self) -> str:
        text = self.cdll.unimem_torch_config_json()
        if text is None:
            raise ValueError(self.last_error())
        return text.decode()

    def started(self) -> bool:
        return bool(self.cdll.unimem_torch_started())

    def device_limit(self) -> int:
        return int(self.cdll.unimem_torch_device_limit())

    def statistics(self, device: int) -> Tuple[bool, Dict[str, object]]:
        s = _Stats()
        rc = self.check(self.cdll.unimem_torch_statistics(device, ctypes.byref(s), ctypes.sizeof(s)), ValueError)
        out: Dict[str, object] = {name: int(getattr(s, name)) for name in STAT_FIELDS}
        out["plan_active"] = bool(s.plan_active)
        kind = self.cdll.unimem_memory_kind_name(s.upstream_kind) if rc == 1 else None
        out["upstream_kind"] = kind.decode() if kind else None
        return rc == 1, out

    def empty_cache(self, device: int) -> int:
        return int(self.check(self.cdll.unimem_torch_empty_cache(device)))

    def kind_name(self, kind: int) -> str:
        name = self.cdll.unimem_memory_kind_name(kind)
        return name.decode() if name else f"kind {kind}"

    # ---- tensors ----
    def dlpack_support(self) -> int:
        return int(self.cdll.unimem_dlpack_support())

    def bind_capsules(self) -> None:
        """Gives the library Python's capsule functions (once), for its capsule destructor."""
        with self._capsule_lock:
            if self._capsules_bound:
                return
            api = ctypes.pythonapi
            is_valid = ctypes.cast(api.PyCapsule_IsValid, ctypes.c_void_p).value
            get_pointer = ctypes.cast(api.PyCapsule_GetPointer, ctypes.c_void_p).value
            self.check(self.cdll.unimem_dlpack_bind_python(is_valid, get_pointer))
            self._capsules_bound = True


_lock = threading.Lock()
_loaded: Optional[Library] = None


def load(path: Optional[os.PathLike] = None) -> Library:
    """The library, loaded once per process (from `path`, or found with find_library()).

    Raises:
        LibraryNotFound: no library was found (the message says how to build and install it).
        UnimemError: it does not load, or it is from another version than this package.
    """
    global _loaded
    with _lock:
        if _loaded is not None:
            if path is not None and Path(path).resolve() != _loaded.path.resolve():
                raise UnimemError(
                    f"unimem: {_loaded.path} is loaded already; a process uses one libunimem_torch, so "
                    f"{path} cannot be loaded too")
            return _loaded
        _loaded = Library(Path(path) if path is not None else find_library())
        return _loaded
