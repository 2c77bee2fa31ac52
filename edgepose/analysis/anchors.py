"""Where a person is, as one point per pose: the point a zone tests.

Rules (``analysis.zones[].anchor``):

- ``feet``: the mean of the visible ankles (one or both), else the box's bottom centre. Where
  someone stands, which is what a floor zone (a doorway, the space in front of the sofa) means.
- ``hips``: the mean of the visible hips, else the box's centre. Seated people, beds.
- ``box_center``: the box's centre. Models without reliable legs, people cut by the frame's edge.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgepose.keypoints import KP

AnchorRule = Literal["feet", "hips", "box_center"]
ANCHOR_RULES: tuple[AnchorRule, ...] = ("feet", "hips", "box_center")

_ANKLES = [KP["left_ankle"], KP["right_ankle"]]
_HIPS = [KP["left_hip"], KP["right_hip"]]


def _pair_mean(keypoints: np.ndarray, pair: list[int], min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """``(P, 2)`` mean of a keypoint pair's visible members and ``(P,)`` whether any was visible."""
    kp = keypoints[:, pair]  # (P, 2, 3)
    ok = kp[..., 2] >= min_score
    n = ok.sum(axis=1)
    total = np.where(ok[..., None], kp[..., :2], 0.0).sum(axis=1)
    return total / np.maximum(n, 1)[:, None], n > 0


def anchor_points(keypoints: np.ndarray, boxes: np.ndarray, rule: AnchorRule, min_score: float) -> np.ndarray:
    """``(P, 2)`` float64 anchor per pose in the keypoints' units (source pixels), by ``rule``.

    ``keypoints`` ``(P, 17, 3)``, ``boxes`` ``(P, 4)`` as ``(x0, y0, x1, y1)``.
    """
    kp = np.asarray(keypoints, np.float64)
    box = np.asarray(boxes, np.float64).reshape(-1, 4)
    cx = (box[:, 0] + box[:, 2]) / 2
    if rule == "feet":
        point, ok = _pair_mean(kp, _ANKLES, min_score)
        fallback = np.stack([cx, box[:, 3]], axis=1)
    elif rule == "hips":
        point, ok = _pair_mean(kp, _HIPS, min_score)
        fallback = np.stack([cx, (box[:, 1] + box[:, 3]) / 2], axis=1)
    elif rule == "box_center":
        return np.stack([cx, (box[:, 1] + box[:, 3]) / 2], axis=1)
    else:
        raise ValueError(f"unknown anchor rule {rule!r}; allowed: {', '.join(ANCHOR_RULES)}")
    return np.where(ok[:, None], point, fallback)
