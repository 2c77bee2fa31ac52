"""The values that pass from the decoder to the tracker and the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgepose.keypoints import NUM_KEYPOINTS

if TYPE_CHECKING:  # the stage imports this module
    from edgepose.analysis.findings import Analysis


@dataclass(frozen=True, slots=True)
class Pose:
    """One person.

    keypoints: ``(17, 3)`` float32 of ``(x, y, score)``; x and y in **source-frame pixels**,
        COCO-17 order (:data:`edgepose.keypoints.KEYPOINT_NAMES`), score in [0, 1].
    score: the pose's confidence in [0, 1].
    box: ``(x0, y0, x1, y1)`` in source-frame pixels.
    id: the tracker's identity for this person, ``None`` until a tracker assigned one.
    landmarks: BlazePose's ``(33, 4)`` float32 ``(x, y, z, visibility)`` (source pixels; z at the
        scale of x, negative towards the camera, 0 at the hips), ``None`` for other models.
    world: BlazePose's ``(33, 3)`` float32 ``(x, y, z)`` in metres, origin between the hips,
        ``None`` where the model gives none.
    """

    keypoints: np.ndarray
    score: float
    box: tuple[float, float, float, float]
    id: int | None = None
    landmarks: np.ndarray | None = None
    world: np.ndarray | None = None

    def __post_init__(self) -> None:
        kp = self.keypoints
        if not isinstance(kp, np.ndarray) or kp.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints must be a ({NUM_KEYPOINTS}, 3) array, got {getattr(kp, 'shape', kp)}")
        if len(self.box) != 4:
            raise ValueError(f"box must have 4 values, got {self.box}")
        for name, width in (("landmarks", 4), ("world", 3)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, np.ndarray) or value.ndim != 2 or value.shape[1] != width):
                raise ValueError(f"{name} must be an (N, {width}) array, got {getattr(value, 'shape', value)}")

    def moved(self, keypoints: np.ndarray, box: tuple[float, float, float, float], id: int | None) -> Pose:
        """This person with other keypoints, box and id (a tracker's smoothing); landmarks stay attached."""
        return Pose(keypoints, self.score, box, id, self.landmarks, self.world)


def box_from_keypoints(keypoints: np.ndarray, min_score: float = 0.0) -> tuple[float, float, float, float]:
    """Tight box around the keypoints scoring above ``min_score`` (all of them if none do).

    Once or twice a pose a frame (decode, smoothing): min and max of 17 Python floats take a
    quarter of the time of the NumPy calls on so small an array, and give the same values.
    """
    rows = keypoints.tolist()
    pts = [r for r in rows if r[2] > min_score] or rows
    xs = [r[0] for r in pts]
    ys = [r[1] for r in pts]
    return (min(xs), min(ys), max(xs), max(ys))


def boxes_from_keypoints(keypoints: np.ndarray, min_score: float = 0.0) -> np.ndarray:
    """:func:`box_from_keypoints` of every pose of ``(N, 17, 3)`` keypoints at once: ``(N, 4)``.

    One pass over a frame's poses instead of one NumPy call chain per pose; the values are the
    same (a min and a max of the same keypoints), in the keypoints' dtype.
    """
    kp = np.asarray(keypoints)
    visible = kp[..., 2] > min_score  # (N, 17)
    use = np.where(visible.any(axis=1, keepdims=True), visible, True)  # none visible: all of them
    xy = kp[..., :2]
    lo = np.where(use[..., None], xy, np.inf).min(axis=1)
    hi = np.where(use[..., None], xy, -np.inf).max(axis=1)
    return np.concatenate([lo, hi], axis=1).astype(kp.dtype, copy=False)


# The pose builders every decoder uses: one place decides how a decoded pose gets its box and score.


def pose_from_keypoints(keypoints: np.ndarray, score: float, min_keypoint_score: float) -> Pose:
    """One decoded pose: ``(17, 3)`` keypoints in source pixels, its box around those above ``min_keypoint_score``."""
    return Pose(keypoints, float(score), box_from_keypoints(keypoints, min_keypoint_score))


def poses_from_arrays(
    keypoints: np.ndarray,
    scores: np.ndarray,
    min_keypoint_score: float = 0.0,
    boxes: np.ndarray | None = None,
) -> list[Pose]:
    """Poses from ``(N, 17, 3)`` keypoints and ``(N,)`` scores (source pixels).

    ``boxes`` ``(N, 4)``: the model's own person boxes (MoveNet MultiPose); without them, each box
    is around the keypoints above ``min_keypoint_score`` (:func:`boxes_from_keypoints`, all poses
    at once). Each pose's keypoints are a view of ``keypoints`` (nothing downstream writes into a
    pose's arrays).
    """
    if len(keypoints) == 0:
        return []
    if boxes is None:
        boxes = boxes_from_keypoints(keypoints, min_keypoint_score)
    box_rows = np.asarray(boxes).tolist()
    score_list = np.asarray(scores).tolist()
    return [Pose(keypoints[i], score_list[i], tuple(box)) for i, box in enumerate(box_rows)]


@dataclass(frozen=True, slots=True)
class Timing:
    """Milliseconds spent per stage on one frame."""

    preprocess: float = 0.0
    inference: float = 0.0
    decode: float = 0.0
    total: float = 0.0


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything known about one processed frame: what a sink serializes."""

    frame_index: int
    ts: float
    mono: float
    width: int
    height: int
    camera: str
    poses: tuple[Pose, ...]
    timing: Timing = field(default_factory=Timing)
    file: str = ""  # the image file's name (image sources), '' otherwise
    # What the analysis stage found (angles per pose, events, changed zone states); None without it.
    analysis: Analysis | None = None
