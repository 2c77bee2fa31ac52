"""Similarity between a detected pose and a track: OKS on keypoints, IoU on boxes.

Pure functions on arrays; coordinates in source-frame pixels (both measures are scale-free, so
the unit only has to be the same for both arguments).
"""

from __future__ import annotations

import numpy as np

from edgepose.keypoints import COCO_SIGMAS

SIGMAS = np.asarray(COCO_SIGMAS, np.float64)


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


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0 for disjoint or empty boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
