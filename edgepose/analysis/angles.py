"""Named joint angles in degrees, from keypoints in source-frame pixels.

An angle is the one at a vertex between the rays to two other points, in [0, 180]: 180 is a
straight limb, 90 a right angle. Computed as ``atan2(|u x w|, u . w)`` (stable for collinear and
near-straight limbs, where ``acos`` of a dot product loses its digits). Pixels of the source frame
are square, so angles there are the angles in the picture; in coordinates normalized per axis
(0..1 on a 16:9 frame) they would not be.

Three pseudo points extend the 17 keypoints: ``mid_shoulder`` and ``mid_hip`` (the mean of the
visible keypoints of the pair, one or both) and ``up``, a point straight above the vertex (image
up, -y). ``torso_lean`` is the angle at ``mid_hip`` between ``mid_shoulder`` and ``up``: 0 upright,
90 lying, whatever the direction.

A keypoint scoring below ``min_score`` is not used; an angle that needs one is NaN (``null`` in
documents), as is one whose rays have zero length (two keypoints on the same pixel).
"""

from __future__ import annotations

import numpy as np

from edgepose.keypoints import KP, NUM_KEYPOINTS

MID_SHOULDER, MID_HIP, UP = NUM_KEYPOINTS, NUM_KEYPOINTS + 1, NUM_KEYPOINTS + 2
PSEUDO_POINTS = ("mid_shoulder", "mid_hip", "up")

# name -> (end, vertex, end) by keypoint (or pseudo point) name; published in `meta`.
ANGLES: dict[str, tuple[str, str, str]] = {
    "left_elbow": ("left_shoulder", "left_elbow", "left_wrist"),
    "right_elbow": ("right_shoulder", "right_elbow", "right_wrist"),
    "left_shoulder": ("left_elbow", "left_shoulder", "left_hip"),
    "right_shoulder": ("right_elbow", "right_shoulder", "right_hip"),
    "left_hip": ("left_shoulder", "left_hip", "left_knee"),
    "right_hip": ("right_shoulder", "right_hip", "right_knee"),
    "left_knee": ("left_hip", "left_knee", "left_ankle"),
    "right_knee": ("right_hip", "right_knee", "right_ankle"),
    "torso_lean": ("mid_shoulder", "mid_hip", "up"),
}
ANGLE_NAMES: tuple[str, ...] = tuple(ANGLES)

_INDEX = {**KP, **{name: NUM_KEYPOINTS + i for i, name in enumerate(PSEUDO_POINTS)}}
_TRIPLES = np.array([[_INDEX[n] for n in triple] for triple in ANGLES.values()], np.intp)  # (A, 3)
_PAIRS = np.array([[KP["left_shoulder"], KP["right_shoulder"]], [KP["left_hip"], KP["right_hip"]]])


def angle_table() -> dict[str, list[str]]:
    """The angles' names and point triples (end, vertex, end), as ``meta`` publishes them."""
    return {name: list(triple) for name, triple in ANGLES.items()}


def extended_points(keypoints: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """``(P, 20, 2)`` float64 points (17 keypoints, mid_shoulder, mid_hip, up) and ``(P, 20)`` usability.

    ``up`` sits one pixel above ``mid_hip`` (any point straight above the vertex gives the same angle).
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (P, {NUM_KEYPOINTS}, 3), got {kp.shape}")
    n = kp.shape[0]
    xy = np.empty((n, NUM_KEYPOINTS + 3, 2))
    ok = np.empty((n, NUM_KEYPOINTS + 3), bool)
    xy[:, :NUM_KEYPOINTS] = kp[..., :2]
    ok[:, :NUM_KEYPOINTS] = (kp[..., 2] >= min_score) & np.isfinite(kp[..., :2]).all(axis=-1)
    pair_ok = ok[:, _PAIRS]  # (P, 2, 2)
    weight = pair_ok / np.maximum(pair_ok.sum(axis=-1, keepdims=True), 1)
    with np.errstate(invalid="ignore"):  # a NaN coordinate with weight 0 stays out of the mean
        mids = np.einsum("pkj,pkjc->pkc", weight, np.where(pair_ok[..., None], kp[:, _PAIRS, :2], 0.0))
    xy[:, MID_SHOULDER:UP] = mids
    ok[:, MID_SHOULDER:UP] = pair_ok.any(axis=-1)
    xy[:, UP] = xy[:, MID_HIP] - (0.0, 1.0)
    ok[:, UP] = ok[:, MID_HIP]
    return xy, ok


def joint_angles(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    """``(P, len(ANGLE_NAMES))`` float64 degrees in [0, 180] for ``(P, 17, 3)`` keypoints; NaN where unknown.

    Columns follow :data:`ANGLE_NAMES`. Keypoints are ``(x, y, score)`` in source-frame pixels.
    """
    xy, ok = extended_points(keypoints, min_score)
    a, v, b = xy[:, _TRIPLES[:, 0]], xy[:, _TRIPLES[:, 1]], xy[:, _TRIPLES[:, 2]]  # (P, A, 2)
    u, w = a - v, b - v
    cross = u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]
    dot = (u * w).sum(axis=-1)
    degrees = np.degrees(np.arctan2(np.abs(cross), dot))
    usable = ok[:, _TRIPLES].all(axis=-1) & (u != 0).any(axis=-1) & (w != 0).any(axis=-1)
    return np.where(usable, degrees, np.nan)
