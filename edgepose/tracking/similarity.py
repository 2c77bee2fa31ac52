"""Similarity between a detected pose and a track: OKS on keypoints, IoU on boxes.

Pure functions on arrays; coordinates in source-frame pixels (both measures are scale-free, so
the unit only has to be the same for both arguments).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edgepose.keypoints import COCO_SIGMAS

SIGMAS = np.asarray(COCO_SIGMAS, np.float64)
_K2 = ((2.0 * SIGMAS) ** 2).tolist()  # (2σ)² per keypoint, as Python floats for :func:`oks_few`

# Up to this many pose-track pairs, :func:`oks_few` (Python floats) is cheaper than one
# :func:`oks_matrix` pass: 19 µs against 54 for one pair, 46 against 62 for four, even at nine.
FEW_PAIRS = 4


def keypoint_area(keypoints: np.ndarray, threshold: float) -> float:
    """Area (px²) of the box around the keypoints scoring at least ``threshold``; 0 if none do."""
    visible = keypoints[keypoints[:, 2] >= threshold]
    if len(visible) == 0:
        return 0.0
    w = float(visible[:, 0].max() - visible[:, 0].min())
    h = float(visible[:, 1].max() - visible[:, 1].min())
    return w * h


def oks(
    pose: np.ndarray,
    track: np.ndarray,
    threshold: float = 0.3,
    min_keypoints: int = 4,
    sigmas: np.ndarray = SIGMAS,
) -> float:
    """Object keypoint similarity in [0, 1] of two ``(17, 3)`` ``(x, y, score)`` arrays.

    Only keypoints confident (>= ``threshold``) in both count; fewer than ``min_keypoints`` of
    them gives 0. The scale is the area of the track's confident keypoints' box, as in COCO:
    ``mean(exp(-d² / (2 · area · (2σ)²)))``.
    """
    both = (pose[:, 2] >= threshold) & (track[:, 2] >= threshold)
    n = int(both.sum())
    if n < min_keypoints or n == 0:
        return 0.0
    area = keypoint_area(track, threshold) + 1e-6
    d2 = ((pose[both, :2].astype(np.float64) - track[both, :2].astype(np.float64)) ** 2).sum(axis=1)
    k2 = (2.0 * sigmas[both]) ** 2
    return float(np.exp(-d2 / (2.0 * area * k2)).mean())


def oks_few(
    poses: Sequence[np.ndarray], tracks: Sequence[np.ndarray], threshold: float = 0.3, min_keypoints: int = 4
) -> np.ndarray:
    """:func:`oks_matrix` of a few ``(17, 3)`` poses and tracks, in Python floats: ``(P, T)``.

    A single-person model meets one track a frame, where the NumPy pass is two dozen calls on
    17 values. The same operations in the same order, but ``math.exp`` and a sequential sum,
    so a result may differ from :func:`oks_matrix` in its last bits (tests hold them within 1e-12).
    """
    out = np.zeros((len(poses), len(tracks)), np.float64)
    rows = [np.asarray(p).tolist() for p in poses]
    need = max(min_keypoints, 1)
    for j, track in enumerate(tracks):
        trow = np.asarray(track).tolist()
        seen = [r[2] >= threshold for r in trow]
        xs = [r[0] for r, s in zip(trow, seen, strict=True) if s]
        ys = [r[1] for r, s in zip(trow, seen, strict=True) if s]
        area = ((max(xs) - min(xs)) * (max(ys) - min(ys)) if xs else 0.0) + 1e-6
        for i, prow in enumerate(rows):
            total, n = 0.0, 0
            for a, b, s, k2 in zip(prow, trow, seen, _K2, strict=True):
                if s and a[2] >= threshold:
                    dx, dy = a[0] - b[0], a[1] - b[1]
                    total += math.exp(-(dx**2 + dy**2) / (2.0 * area * k2))
                    n += 1
            out[i, j] = total / n if n >= need else 0.0
    return out


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0 for disjoint or empty boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def oks_matrix(
    poses: np.ndarray,
    tracks: np.ndarray,
    threshold: float = 0.3,
    min_keypoints: int = 4,
    sigmas: np.ndarray = SIGMAS,
) -> np.ndarray:
    """:func:`oks` of every pose against every track at once: ``(P, 17, 3)`` x ``(T, 17, 3)`` -> ``(P, T)``.

    One vectorized pass per frame instead of P x T Python calls (with 18 tracks that was most
    of the pipeline's own time per frame). :func:`oks` stays the readable definition; tests hold
    the two equal.
    """
    p, t = len(poses), len(tracks)
    if p == 0 or t == 0:
        return np.zeros((p, t), np.float64)
    poses = np.asarray(poses, np.float64)
    tracks = np.asarray(tracks, np.float64)
    seen_t = tracks[:, :, 2] >= threshold  # (T, 17)
    both = (poses[:, None, :, 2] >= threshold) & seen_t[None]  # (P, T, 17)
    n = both.sum(axis=2)
    # The scale: area of each track's confident keypoints' box (0 where it has none); x and y at once.
    xy = tracks[:, :, :2]
    seen = seen_t[:, :, None]
    wh = np.where(seen, xy, -np.inf).max(axis=1) - np.where(seen, xy, np.inf).min(axis=1)  # (T, 2)
    area = np.where(seen_t.any(axis=1), wh[:, 0] * wh[:, 1], 0.0) + 1e-6  # (T,)
    diff = poses[:, None, :, :2] - xy[None]  # (P, T, 17, 2)
    d2 = diff[..., 0] ** 2 + diff[..., 1] ** 2
    k2 = (2.0 * sigmas) ** 2
    e = np.exp(-d2 / (2.0 * area[None, :, None] * k2[None, None, :]))
    e[~both] = 0.0
    # Fewer than min_keypoints (or none) confident in both: 0.
    return np.divide(e.sum(axis=2), n, out=np.zeros((p, t), np.float64), where=n >= max(min_keypoints, 1))


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """:func:`iou` of every box in ``(P, 4)`` against every box in ``(T, 4)`` -> ``(P, T)``."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)[None, :, :]
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (
        (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    )
    return np.divide(inter, union, out=np.zeros_like(inter), where=(union > 0) & (inter > 0))
