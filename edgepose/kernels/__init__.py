"""Decoder kernels: Numba where it imports, the NumPy reference twins otherwise.

``decoder.kernel`` chooses: ``numba``, ``numpy`` or ``auto`` (Numba where it imports). Numba is
imported lazily, here and nowhere else, so that ``decoder.numba_cache_dir`` can set
``NUMBA_CACHE_DIR`` first: a systemd service cannot write next to the package in site-packages.
:func:`warmup` compiles (or loads from the cache) every kernel at start-up, so the first frame
does not pay for compilation.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np

from edgepose.errors import ConfigError, UnavailableError
from edgepose.kernels import reference

log = logging.getLogger(__name__)

KernelKind = Literal["auto", "numba", "numpy"]


@dataclass(frozen=True)
class Kernels:
    """One implementation of every kernel; the signatures are those of :mod:`edgepose.kernels.reference`."""

    kind: str  # "numba" or "numpy": what actually runs
    posenet_decode: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
    posenet_single: Callable[..., np.ndarray]
    heatmap_argmax: Callable[[np.ndarray], np.ndarray]
    heatmap_quarter: Callable[[np.ndarray], np.ndarray]
    heatmap_dark: Callable[[np.ndarray, np.ndarray], np.ndarray]
    movenet_multi: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def _from_module(kind: str, module: ModuleType) -> Kernels:
    return Kernels(
        kind,
        module.posenet_decode,
        module.posenet_single,
        module.heatmap_argmax,
        module.heatmap_quarter,
        module.heatmap_dark,
        module.movenet_multi,
    )


def numpy_kernels() -> Kernels:
    return _from_module("numpy", reference)


def _import_numba(cache_dir: str) -> ModuleType:
    """The compiled kernels module, with Numba's cache pointed at ``cache_dir`` (when given)."""
    if cache_dir:
        path = Path(cache_dir).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"decoder.numba_cache_dir: cannot create {path}: {exc.strerror}") from None
        if not os.access(path, os.W_OK):
            raise ConfigError(f"decoder.numba_cache_dir: {path} is not writable by this user")
        os.environ["NUMBA_CACHE_DIR"] = str(path)  # read by Numba when it is first imported ...
        numba_config = importlib.import_module("numba.core.config")
        numba_config.CACHE_DIR = str(path)  # ... and here, should it have been imported already
    return importlib.import_module("edgepose.kernels.compiled")


def load_kernels(kind: KernelKind = "auto", cache_dir: str = "") -> Kernels:
    """The kernels ``kind`` names; ``auto`` falls back to NumPy (logged) where Numba does not import."""
    if kind == "numpy":
        return numpy_kernels()
    if kind not in ("auto", "numba"):
        raise ConfigError(f"decoder.kernel: unknown kernel kind {kind!r}", "use auto, numba or numpy")
    try:
        module = _import_numba(cache_dir)
    except ImportError as exc:
        if kind == "numba":
            raise UnavailableError(
                f"decoder.kernel is numba but Numba cannot be imported: {exc}",
                "pip install numba, or set decoder.kernel: numpy (or auto)",
            ) from None
        log.info("Numba is not available (%s): decoding with the NumPy kernels", exc)
        return numpy_kernels()
    return _from_module("numba", module)


def warmup(kernels: Kernels) -> float:
    """Run every kernel once on tiny inputs so compilation (or the cache load) happens now.

    Returns the seconds it took. The argument types match the decoders' calls exactly (float32
    grids, Python scalars), so Numba compiles the one specialization that frames will use.
    """
    t0 = time.perf_counter()
    grid = np.zeros((3, 3, 17), np.float32)
    grid[1, 1, 0] = 5.0
    shorts = np.zeros((3, 3, 34), np.float32)
    mids = np.zeros((3, 3, 64), np.float32)
    kernels.posenet_decode(grid, shorts, mids, 2, 0.5, 1.0, 2, True)
    kernels.posenet_single(grid, shorts, 16.0, True)
    kernels.heatmap_argmax(grid)
    kernels.heatmap_quarter(grid)
    kernels.heatmap_dark(grid, reference.gaussian_kernel(1.0))
    kernels.movenet_multi(np.zeros((6, 56), np.float32), 0.5)
    seconds = time.perf_counter() - t0
    log.debug("%s kernels ready in %.2f s", kernels.kind, seconds)
    return seconds


__all__ = ["KernelKind", "Kernels", "load_kernels", "numpy_kernels", "warmup"]
