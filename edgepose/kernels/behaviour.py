"""The behaviours' per-frame kernels: Numba where it imports, the NumPy twins here otherwise.

Three kernels take all of a frame's arithmetic that the behaviours do in arrays, each in one call
instead of the dozens of small NumPy calls its twin makes (on ten people every NumPy call costs
more than its arithmetic):

- :func:`body_measures`: the fall detector's measurements, ``(6, P)`` rows hip x, hip y, torso lean,
  body lean, bottom, height (NaN where not visible), as
  :func:`edgepose.analysis.behaviours.geometry.body_measures`.
- :func:`best_match`: normalizing every person and scoring them against the library (its mirror
  images after it when ``plain`` is half its length), as
  :func:`edgepose.analysis.behaviours.similarity.best_match`; returns each person's index and score.
- :func:`joint_angles`: the analysis stage's named angles of every person, as
  :func:`edgepose.analysis.angles.joint_angles` (the stage computes them once a frame for the
  ``angles`` field and the repetitions).
- :func:`rep_values`: every repetition rule's angle of every person, ``(P, R)``, NaN where none of
  the rule's angles is known; ``columns`` ``(R, K)`` are the rule's angle columns padded with -1,
  ``combine`` ``(R,)`` 0 mean, 1 min, 2 max.

The choice follows ``decoder.kernel`` and the cache ``decoder.numba_cache_dir``, as the decoder's
kernels do; :func:`warmup` compiles (or loads from the cache) at start-up so the first frame does
not pay for it.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepose.errors import UnavailableError

log = logging.getLogger(__name__)

COMBINE = {"mean": 0, "min": 1, "max": 2}


def body_measures(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    from edgepose.analysis.behaviours.geometry import body_measures as measures

    b = measures(keypoints, min_score)
    return np.stack([b.hip_x, b.hip_y, b.lean, b.body, b.bottom, b.height])


def best_match(
    keypoints: np.ndarray, library_xy: np.ndarray, library_conf: np.ndarray, plain: int, weighted: bool
) -> tuple[np.ndarray, np.ndarray]:
    from edgepose.analysis.behaviours import similarity as s

    people, metric = s.normalize(keypoints), "weighted" if weighted else "cosine"
    if len(library_xy) == plain:
        got = s.best_match(people, s.Normalized(library_xy, library_conf), metric)
    else:
        library = s.Normalized(library_xy[:plain], library_conf[:plain])
        got = s.best_match(people, library, metric, True, s.Normalized(library_xy, library_conf))
    return got.index, got.score


def joint_angles(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    from edgepose.analysis.angles import joint_angles as angles

    return angles(keypoints, min_score)


def angle_points() -> np.ndarray:
    """:data:`edgepose.analysis.joints.ANGLE_POINTS` as ``(A, 3)`` point indices (end, vertex, end) over
    the 17 keypoints, then mid_shoulder (17), mid_hip (18) and up (19): the compiled kernel's table."""
    from edgepose.analysis.joints import ANGLE_POINTS

    return np.array(ANGLE_POINTS, np.int64).reshape(-1, 3)


def rep_values(angles: np.ndarray, columns: np.ndarray, combine: np.ndarray) -> np.ndarray:
    out = np.full((len(angles), len(columns)), np.nan)
    for r, (cols, how) in enumerate(zip(columns.tolist(), combine.tolist(), strict=True)):
        sub = angles[:, [c for c in cols if c >= 0]]
        known = ~np.isnan(sub)
        n = known.sum(axis=1)
        if how == 1:
            value = np.where(known, sub, np.inf).min(axis=1)
        elif how == 2:
            value = np.where(known, sub, -np.inf).max(axis=1)
        else:
            value = np.where(known, sub, 0.0).sum(axis=1) / np.maximum(n, 1)
        out[:, r] = np.where(n > 0, value, np.nan)
    return out


@dataclass(frozen=True)
class BehaviourKernels:
    """One implementation of each kernel; ``kind`` is what runs (``numba`` or ``numpy``)."""

    kind: str
    body_measures: Callable[[np.ndarray, float], np.ndarray]
    joint_angles: Callable[[np.ndarray, float], np.ndarray]
    best_match: Callable[..., tuple[np.ndarray, np.ndarray]]
    rep_values: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


NUMPY = BehaviourKernels("numpy", body_measures, joint_angles, best_match, rep_values)


def load_behaviour_kernels(kind: str = "auto", cache_dir: str = "") -> BehaviourKernels:
    """The kernels ``kind`` names (``decoder.kernel``); ``auto`` falls back to NumPy where Numba
    does not import. The cache directory is set up as for the decoder's kernels."""
    if kind == "numpy":
        return NUMPY
    from edgepose.kernels import _import_numba

    try:
        _import_numba(cache_dir)
        module = importlib.import_module("edgepose.kernels.behaviour_compiled")
    except ImportError as exc:
        if kind == "numba":
            raise UnavailableError(
                f"decoder.kernel is numba but Numba cannot be imported: {exc}",
                "pip install numba, or set decoder.kernel: numpy (or auto)",
            ) from None
        return NUMPY
    table = angle_points()

    def compiled_angles(keypoints: np.ndarray, min_score: float) -> np.ndarray:
        return module.joint_angles(keypoints, min_score, table)

    return BehaviourKernels("numba", module.body_measures, compiled_angles, module.best_match, module.rep_values)


def warmup(kernels: BehaviourKernels) -> float:
    """Run each kernel once, with the argument types frames use, so compilation happens now; seconds."""
    t0 = time.perf_counter()
    kp = np.zeros((1, 17, 3))
    kp[0, :, 1] = np.arange(17.0)
    kp[0, :, 2] = 1.0
    lib_xy, lib_conf = np.zeros((2, 17, 2)), np.ones((2, 17))
    kernels.body_measures(kp, 0.3)
    kernels.joint_angles(kp, 0.3)
    kernels.best_match(kp, lib_xy, lib_conf, 1, True)
    kernels.best_match(kp, lib_xy, lib_conf, 1, False)
    kernels.rep_values(np.zeros((1, 9)), np.zeros((1, 2), np.int64), np.zeros(1, np.int64))
    seconds = time.perf_counter() - t0
    log.debug("%s behaviour kernels ready in %.2f s", kernels.kind, seconds)
    return seconds
