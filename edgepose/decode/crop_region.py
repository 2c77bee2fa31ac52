"""MoveNet's crop-region tracking for single-person models on video.

After each frame, the next input is cut from a square around the person found, so a person far
from the camera fills more of the model's input. This follows Google's MoveNet tutorial
(``determine_crop_region``), with the body and torso ranges measured over *all* the joints; the
TensorFlow Raspberry Pi example measures the torso range from the last torso joint only.
"""

from __future__ import annotations

import numpy as np

from edgepose.keypoints import KP
from edgepose.preprocess import Region, full_region

MIN_CROP_KEYPOINT_SCORE = 0.2
TORSO_EXPANSION = 1.9
BODY_EXPANSION = 1.2
TORSO_JOINTS = (KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"])


def torso_visible(keypoints: np.ndarray, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> bool:
    """At least one hip and one shoulder are confidently seen."""
    s = keypoints[:, 2]
    hips = s[KP["left_hip"]] > min_score or s[KP["right_hip"]] > min_score
    shoulders = s[KP["left_shoulder"]] > min_score or s[KP["right_shoulder"]] > min_score
    return bool(hips and shoulders)


def next_crop_region(
    keypoints: np.ndarray | None,
    width: int,
    height: int,
    min_score: float = MIN_CROP_KEYPOINT_SCORE,
) -> Region:
    """The square region (source pixels) to cut the next frame's input from.

    ``keypoints`` is ``(17, 3)`` (x, y, score) in source pixels from the previous frame, or None.
    Falls back to the whole padded frame when the torso is not visible or the crop would be larger.
    """
    whole = full_region(width, height, 1, 1)
    if keypoints is None or not torso_visible(keypoints, min_score):
        return whole
    cx = float((keypoints[KP["left_hip"], 0] + keypoints[KP["right_hip"], 0]) / 2)
    cy = float((keypoints[KP["left_hip"], 1] + keypoints[KP["right_hip"], 1]) / 2)
    torso = keypoints[list(TORSO_JOINTS)]
    torso_y = float(np.abs(cy - torso[:, 1]).max())
    torso_x = float(np.abs(cx - torso[:, 0]).max())
    seen = keypoints[keypoints[:, 2] > min_score]
    body_y = float(np.abs(cy - seen[:, 1]).max()) if len(seen) else 0.0
    body_x = float(np.abs(cx - seen[:, 0]).max()) if len(seen) else 0.0
    half = max(torso_x * TORSO_EXPANSION, torso_y * TORSO_EXPANSION, body_y * BODY_EXPANSION, body_x * BODY_EXPANSION)
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2 or half <= 0:
        return whole
    return Region(cx - half, cy - half, 2 * half, 2 * half)
