"""MoveNet's crop-region tracking for single-person models on video.

After each frame, the next input is cut from a square around the person found, so a person far
from the camera fills more of the model's input. This follows Google's MoveNet tutorial
(``determine_crop_region``), with the body and torso ranges measured over *all* the joints; the
TensorFlow Raspberry Pi example measures the torso range from the last torso joint only.
"""

from __future__ import annotations

import numpy as np

from edgepose.decode.base import Decoded
from edgepose.estimation.preprocess import Region, full_region
from edgepose.frame import Frame
from edgepose.keypoints import KP

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


_LH, _RH, _LS, _RS = KP["left_hip"], KP["right_hip"], KP["left_shoulder"], KP["right_shoulder"]


def next_crop_region(
    keypoints: np.ndarray | None,
    width: int,
    height: int,
    min_score: float = MIN_CROP_KEYPOINT_SCORE,
) -> Region:
    """The square region (source pixels) to cut the next frame's input from.

    ``keypoints`` is ``(17, 3)`` (x, y, score) in source pixels from the previous frame, or None.
    Falls back to the whole padded frame when the torso is not visible or the crop would be larger.

    It runs between two invokes on the overlapped schedule (the exact crop), so it makes one
    NumPy pass for the distances and picks the maxima from Python lists, rather than a dozen NumPy
    calls on tiny arrays. The arithmetic is the array form's, in the keypoints' dtype, so the
    region is the same to the last bit (``tests/test_crop_region.py`` holds it to that form).
    """
    whole = full_region(width, height, 1, 1)
    if keypoints is None:
        return whole
    kp = keypoints.tolist()
    if not ((kp[_LH][2] > min_score or kp[_RH][2] > min_score) and (kp[_LS][2] > min_score or kp[_RS][2] > min_score)):
        return whole
    xy = keypoints[:, :2]
    centre = (xy[_LH] + xy[_RH]) / 2  # in the keypoints' dtype (float32 from every decoder), as the array form
    cx, cy = centre.tolist()
    far = np.abs(xy - centre).tolist()  # (17, 2) distances from the centre, one NumPy pass
    torso_x = max(far[j][0] for j in TORSO_JOINTS)
    torso_y = max(far[j][1] for j in TORSO_JOINTS)
    seen = [d for d, p in zip(far, kp, strict=True) if p[2] > min_score]
    body_x = max((d[0] for d in seen), default=0.0)
    body_y = max((d[1] for d in seen), default=0.0)
    half = max(torso_x * TORSO_EXPANSION, torso_y * TORSO_EXPANSION, body_y * BODY_EXPANSION, body_x * BODY_EXPANSION)
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2 or half <= 0:
        return whole
    return Region(cx - half, cy - half, 2 * half, 2 * half)


class CropRegion:
    """The crop-region stage of a single-person model on video: it owns what carries between frames.

    :meth:`region_for` gives where to cut a frame's input: a square around the pose followed from
    the last decoded frame of the same size, else the whole frame padded to the input's aspect
    ratio. :meth:`update` follows the newest decoded frame; :meth:`reset` forgets it (unrelated
    images). Frames must be updated in capture order; the overlapped pipeline keeps the crop exact
    by decoding frame n before frame n+1 is cut (docs/pipeline.md).
    """

    def __init__(self, in_w: int, in_h: int, min_score: float = MIN_CROP_KEYPOINT_SCORE) -> None:
        self.in_w, self.in_h = in_w, in_h
        self.min_score = min_score
        self._keypoints: np.ndarray | None = None  # (17, 3) of the person followed
        self._size: tuple[int, int] | None = None  # (width, height) of the frame they are from

    def region_for(self, frame: Frame) -> Region:
        """Where to cut ``frame``'s input from (source pixels)."""
        if self._keypoints is not None and self._size == (frame.width, frame.height):
            return next_crop_region(self._keypoints, frame.width, frame.height, self.min_score)
        return full_region(frame.width, frame.height, self.in_w, self.in_h)

    def update(self, decoded: Decoded, width: int, height: int) -> None:
        """Follow ``decoded``'s anchor, else its best pose (none: the next frame is cut whole).

        ``width`` x ``height``: the frame it was decoded from; a frame of another size is cut whole.
        """
        poses = decoded.poses
        pose = decoded.anchor or (max(poses, key=lambda p: p.score) if poses else None)
        self.follow(pose.keypoints if pose is not None else None, width, height)

    def follow(self, keypoints: np.ndarray | None, width: int, height: int) -> None:
        """Follow these ``(17, 3)`` keypoints (source pixels) of a ``width`` x ``height`` frame; None: nobody."""
        self._keypoints = keypoints
        self._size = (width, height)

    def reset(self) -> None:
        self._keypoints = None
        self._size = None
