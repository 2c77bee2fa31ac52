"""Decoder kernels: Numba where it imports, the NumPy reference twins otherwise.

``decoder.kernel`` chooses: ``numba``, ``numpy`` or ``auto``: Numba where it imports and the board
has at least :data:`SMALL_BOARD_MB` of memory, else NumPy. Numba and its LLVM cost a PoseNet daemon
about 130 MB of RSS (``libllvmlite.so`` alone about 70 MB), a quarter of a Pi Zero 2 W's 512 MB;
the NumPy twins give the same poses and cost a few ms a frame more (docs/pipeline.md). Numba is
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
from edgepose.kernels import reference, yolo_pose

log = logging.getLogger(__name__)

KernelKind = Literal["auto", "numba", "numpy"]

# Below this much memory (MiB, MemTotal) ``auto`` takes the NumPy kernels: Pi Zero 2 W and 3A+.
SMALL_BOARD_MB = 1024


def board_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """The machine's memory (MemTotal) in MiB; None where it cannot be read (not Linux)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


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
    # YOLO-pose's threshold, NMS and mapping back (:mod:`edgepose.kernels.yolo_pose` for the signature).
    yolo_pose: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, bool]]


def _from_module(kind: str, module: ModuleType, yolo: ModuleType) -> Kernels:
    return Kernels(
        kind,
        module.posenet_decode,
        module.posenet_single,
        module.heatmap_argmax,
        module.heatmap_quarter,
        module.heatmap_dark,
        module.movenet_multi,
        yolo.yolo_pose,
    )


def numpy_kernels() -> Kernels:
    return _from_module("numpy", reference, yolo_pose)


def _import_numba(cache_dir: str) -> tuple[ModuleType, ModuleType]:
    """The compiled kernels modules, with Numba's cache pointed at ``cache_dir`` (when given)."""
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
    return importlib.import_module("edgepose.kernels.compiled"), importlib.import_module(
        "edgepose.kernels.yolo_pose_compiled"
    )


def load_kernels(
    kind: KernelKind = "auto", cache_dir: str = "", memory_mb: Callable[[], int | None] = board_memory_mb
) -> Kernels:
    """The kernels ``kind`` names; ``auto`` takes NumPy (logged) on a board with less than
    :data:`SMALL_BOARD_MB` of memory (``memory_mb``) or where Numba does not import."""
    if kind == "numpy":
        return numpy_kernels()
    if kind not in ("auto", "numba"):
        raise ConfigError(f"decoder.kernel: unknown kernel kind {kind!r}", "use auto, numba or numpy")
    if kind == "auto" and (memory := memory_mb()) is not None and memory < SMALL_BOARD_MB:
        hint = "Numba would take about 130 MB; decoder.kernel: numba uses it anyway"
        log.info("%d MiB of memory: decoding with the NumPy kernels (%s)", memory, hint)
        return numpy_kernels()
    try:
        module, yolo = _import_numba(cache_dir)
    except ImportError as exc:
        if kind == "numba":
            raise UnavailableError(
                f"decoder.kernel is numba but Numba cannot be imported: {exc}",
                "pip install numba, or set decoder.kernel: numpy (or auto)",
            ) from None
        log.info("Numba is not available (%s): decoding with the NumPy kernels", exc)
        return numpy_kernels()
    return _from_module("numba", module, yolo)


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
    warmup_yolo_pose(kernels, np.dtype(np.float32))
    seconds = time.perf_counter() - t0
    log.debug("%s kernels ready in %.2f s", kernels.kind, seconds)
    return seconds


def warmup_yolo_pose(kernels: Kernels, dtype: np.dtype) -> None:
    """Compile (or load) the YOLO-pose kernel for outputs of ``dtype``: one specialization per dtype,
    so a YOLO-pose decoder of an int8 or uint8 model warms its own up when it is built."""
    mapping = np.array([0.0, 1.0, 0.0, 1.0, np.inf, np.inf])
    raw = np.zeros((56, 21), dtype)
    scale = 0.0 if dtype.kind == "f" else 1.0
    kernels.yolo_pose(raw, True, 5, False, True, scale, 0.0, 0.25, 0.7, 300, 32.0, 32.0, mapping)


__all__ = [
    "SMALL_BOARD_MB",
    "KernelKind",
    "Kernels",
    "board_memory_mb",
    "load_kernels",
    "numpy_kernels",
    "warmup",
    "warmup_yolo_pose",
]
