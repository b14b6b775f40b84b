"""unimem.probe(): the device probe (`unimem-probe --json`) as a dict."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import _library

PROBE_NAME = "unimem-probe"


def find_probe(environ: Optional[Dict[str, str]] = None) -> Path:
    """The unimem-probe executable: ``$UNIMEM_PROBE``, the PATH, the ``bin`` folder beside the
    library's ``lib`` folder, or ``tools/probe`` in the CMake build tree that holds the library.

    Raises:
        FileNotFoundError: none of those exists (the message lists them and how to build it).
    """
    env = os.environ if environ is None else environ
    explicit = env.get("UNIMEM_PROBE")
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise FileNotFoundError(f"unimem.probe: UNIMEM_PROBE={explicit} is not an executable file; point it at "
                                    f"{PROBE_NAME} or unset it")
        return Path(explicit)
    looked: List[str] = ["$PATH"]
    on_path = shutil.which(PROBE_NAME, path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    try:
        lib = _library.find_library(env)
    except _library.LibraryNotFound:
        lib = None
    if lib is not None:
        lib = lib.resolve()
        for candidate in (lib.parent.parent / "bin" / PROBE_NAME,                         # <prefix>/lib -> bin
                          lib.parent.parent.parent / "tools" / "probe" / PROBE_NAME):    # a build tree
            looked.append(str(candidate))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    raise FileNotFoundError(
        f"unimem.probe: {PROBE_NAME} not found (looked at {', '.join(looked)}). Build it with the unimem sources "
        f"(cmake --build build --target unimem-probe; it is installed to <prefix>/bin), put it on PATH, or set "
        f"UNIMEM_PROBE=/path/to/{PROBE_NAME}")


def probe(*, measure: bool = True, device: Optional[int] = None, simulate: Optional[str] = None,
          executable: Optional[str] = None, timeout: float = 600.0) -> Dict[str, Any]:
    """Runs ``unimem-probe --json`` and returns its report.

    Args:
        measure: also measure bandwidths and latencies on the device (the probe's main job; takes
            a while). False: the profile and the policy's recommendations only (--no-measure).
        device: the CUDA device to probe (default: the current one).
        simulate: a board to show without it ("nano", "tx2", "xavier", "orin", "orin-nx",
            "orin-nano", "thor", "h100"); needs no GPU.
        executable: the unimem-probe to run (default: found as find_probe() says).
        timeout: seconds before the probe is stopped.

    Raises:
        FileNotFoundError: no unimem-probe (the message says how to build it).
        RuntimeError: the probe failed (its message is included) or printed no JSON.
    """
    exe = Path(executable) if executable else find_probe()
    args = [str(exe), "--json"]
    if not measure:
        args.append("--no-measure")
    if device is not None:
        if isinstance(device, bool) or not isinstance(device, int) or device < 0:
            raise ValueError(f"unimem.probe: device must be an int >= 0, not {device!r}")
        args += ["--device", str(device)]
    if simulate is not None:
        args += ["--simulate", str(simulate)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"unimem.probe: {' '.join(args)} ran past {timeout} s; pass measure=False for the "
                           f"profile alone, or a larger timeout") from e
    if done.returncode != 0:
        raise RuntimeError(f"unimem.probe: {' '.join(args)} failed with exit status {done.returncode}: "
                           f"{(done.stderr or done.stdout).strip()}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"unimem.probe: {' '.join(args)} printed no JSON ({e}); its output began: "
                           f"{done.stdout[:200]!r}") from e
