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
    """``(P, 2)`` mean of a keypoint pair's visible members and ``(P,)`` whether any was visible.

    The pair is added by hand: on a few people, a reduction over an axis of 2 costs more than the sum.
    """
    a, b = keypoints[:, pair[0]], keypoints[:, pair[1]]  # (P, 3) views
    ok_a, ok_b = a[:, 2:] >= min_score, b[:, 2:] >= min_score  # (P, 1)
    n = ok_a.astype(np.float64) + ok_b
    total = a[:, :2] * ok_a + b[:, :2] * ok_b
    return total / np.maximum(n, 1.0), n[:, 0] > 0


def anchor_points(keypoints: np.ndarray, boxes: np.ndarray, rule: AnchorRule, min_score: float) -> np.ndarray:
    """``(P, 2)`` float64 anchor per pose in the keypoints' units (source pixels), by ``rule``.

    ``keypoints`` ``(P, 17, 3)``, ``boxes`` ``(P, 4)`` as ``(x0, y0, x1, y1)``.
    """
    kp = np.asarray(keypoints, np.float64)
    box = np.asarray(boxes, np.float64).reshape(-1, 4)
    fallback = np.empty((len(box), 2))
    fallback[:, 0] = (box[:, 0] + box[:, 2]) / 2
    if rule == "feet":
        point, ok = _pair_mean(kp, _ANKLES, min_score)
        fallback[:, 1] = box[:, 3]
    elif rule in ("hips", "box_center"):
        fallback[:, 1] = (box[:, 1] + box[:, 3]) / 2
        if rule == "box_center":
            return fallback
        point, ok = _pair_mean(kp, _HIPS, min_score)
    else:
        raise ValueError(f"unknown anchor rule {rule!r}; allowed: {', '.join(ANCHOR_RULES)}")
    return np.where(ok[:, None], point, fallback)
