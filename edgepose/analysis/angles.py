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

The table of angles (names, order, points) is :data:`edgepose.analysis.joints.ANGLES`.
"""

from __future__ import annotations

import numpy as np

from edgepose.analysis.joints import ANGLES, POINTS
from edgepose.keypoints import KP, NUM_KEYPOINTS


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The angle table as matrices over the 19 points (17 keypoints, mid_shoulder, mid_hip).

    A frame's rays are then two matrix products, whatever the number of angles: ``rays_u = points @ U``
    (end minus vertex), ``rays_w = points @ W + W0`` (``W0``: the ``up`` direction, a constant).
    ``NEED`` counts, per angle, the points it needs; ``MID`` averages the pairs into the mid points.
    """
    index = POINTS  # mid_shoulder and mid_hip come right after the keypoints; up is not a point
    n_points, n_angles = NUM_KEYPOINTS + 2, len(ANGLES)
    u, w, need = (np.zeros((n_points, n_angles)) for _ in range(3))
    w0 = np.zeros((2, n_angles))
    for col, (a, v, b) in enumerate(ANGLES.values()):
        u[index[a], col] += 1.0
        u[index[v], col] -= 1.0
        need[index[a], col] = need[index[v], col] = 1.0
        if b == "up":  # a direction, not a point: straight up the image (-y)
            w0[1, col] = -1.0
        else:
            w[index[b], col] += 1.0
            w[index[v], col] -= 1.0
            need[index[b], col] = 1.0
    mid = np.zeros((NUM_KEYPOINTS, 2))
    mid[[KP["left_shoulder"], KP["right_shoulder"]], 0] = 1.0
    mid[[KP["left_hip"], KP["right_hip"]], 1] = 1.0
    return u, w, w0, need, mid


_U, _W, _W0, _NEED, _MID = _tables()
_NEED_COUNT = _NEED.sum(axis=0)


def angle_table() -> dict[str, list[str]]:
    """The angles' names and point triples (end, vertex, end), as ``meta`` publishes them."""
    return {name: list(triple) for name, triple in ANGLES.items()}


def joint_angles(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    """``(P, len(ANGLES))`` float64 degrees in [0, 180] for ``(P, 17, 3)`` keypoints; NaN where unknown.

    Columns follow :data:`~edgepose.analysis.joints.ANGLE_NAMES`. Keypoints are ``(x, y, score)`` in
    source-frame pixels. The mid points average the pair's visible members (one or both). A NaN
    coordinate makes the angles through it NaN (decoders give finite keypoints). Small matrix
    products instead of gathers and reductions: on a few people each NumPy call costs more than its
    arithmetic.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be (P, {NUM_KEYPOINTS}, 3), got {kp.shape}")
    n = len(kp)
    if n == 0:
        return np.empty((0, len(ANGLES)))
    seen = (kp[..., 2] >= min_score).astype(np.float64)  # (P, 17)
    count = seen @ _MID  # (P, 2) visible members of each pair
    points = np.empty((2, n, NUM_KEYPOINTS + 2))  # (xy, P, 19): one 2-D product per step below
    xy = kp[..., :2].transpose(2, 0, 1)  # (2, P, 17)
    points[..., :NUM_KEYPOINTS] = xy
    points[..., NUM_KEYPOINTS:] = ((xy * seen).reshape(2 * n, -1) @ _MID).reshape(2, n, 2) / np.maximum(count, 1.0)
    usable_points = np.concatenate([seen, np.minimum(count, 1.0)], axis=1)  # (P, 19) as 0/1
    flat = points.reshape(2 * n, -1)
    u = (flat @ _U).reshape(2, n, -1)  # (xy, P, A)
    w = (flat @ _W).reshape(2, n, -1) + _W0[:, None]
    cross = u[0] * w[1] - u[1] * w[0]
    dot = u[0] * w[0] + u[1] * w[1]
    degrees = np.degrees(np.arctan2(np.abs(cross), dot))
    # |cross|^2 + dot^2 = |u|^2 |w|^2: both zero exactly when a ray has no length (two points on one pixel)
    usable = (usable_points @ _NEED == _NEED_COUNT) & ((cross != 0) | (dot != 0))
    return np.where(usable, degrees, np.nan)
