"""The few body measurements the behaviours need, from one ``(17, 3)`` pose in source-frame pixels.

Each returns ``None`` when the keypoints it needs score below ``min_score``. Pixels of the source
frame keep angles aspect-correct. Image y grows downwards. The joint angles are those of the one
table, :data:`edgepose.analysis.joints.JOINTS` (the limb angles of ``ANGLES``), with the formula
of :func:`edgepose.analysis.angles.joint_angles` (which computes every angle of every pose of a
frame at once); these work on one pose's rows as plain floats, a few microseconds each, for the
per-track state machines.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from edgepose.analysis.joints import JOINTS
from edgepose.keypoints import KP

Rows = Sequence[Sequence[float]]  # (17, 3) as nested lists (``ndarray.tolist()``) or an array

L_SHOULDER, R_SHOULDER = KP["left_shoulder"], KP["right_shoulder"]
L_HIP, R_HIP = KP["left_hip"], KP["right_hip"]
L_ANKLE, R_ANKLE = KP["left_ankle"], KP["right_ankle"]
L_KNEE, R_KNEE = KP["left_knee"], KP["right_knee"]


def rows(keypoints: np.ndarray | Rows) -> Rows:
    """Plain nested lists: element access on them is ten times cheaper than on a NumPy array."""
    return keypoints.tolist() if isinstance(keypoints, np.ndarray) else keypoints


def midpoint(kp: Rows, a: int, b: int, min_score: float) -> tuple[float, float] | None:
    """The middle of keypoints a and b; the one that is visible if only one is; else None."""
    pa, pb = kp[a], kp[b]
    seen_a, seen_b = pa[2] >= min_score, pb[2] >= min_score
    if seen_a and seen_b:
        return ((pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0)
    if seen_a:
        return (float(pa[0]), float(pa[1]))
    if seen_b:
        return (float(pb[0]), float(pb[1]))
    return None


def hip_centre(kp: Rows, min_score: float) -> tuple[float, float] | None:
    return midpoint(kp, L_HIP, R_HIP, min_score)


def _lean(bottom: tuple[float, float] | None, top: tuple[float, float] | None) -> float | None:
    """Degrees between bottom -> top and image up: 0 upright, 90 horizontal, 180 upside down, either side."""
    if bottom is None or top is None:
        return None
    dx, dy = top[0] - bottom[0], top[1] - bottom[1]
    if dx == 0 and dy == 0:
        return None
    return math.degrees(math.atan2(abs(dx), -dy))


def torso_lean(kp: Rows, min_score: float) -> float | None:
    """Degrees between the hip-centre -> shoulder-centre line and image up (as ``analysis`` names it)."""
    return _lean(hip_centre(kp, min_score), midpoint(kp, L_SHOULDER, R_SHOULDER, min_score))


def body_lean(kp: Rows, min_score: float) -> float | None:
    """Degrees between the feet -> shoulders line and image up (ankle centre, else knee centre), or None.

    A torso tipped over the feet (bending down, a deep squat) keeps this line near vertical; lying
    puts it near horizontal.
    """
    feet = midpoint(kp, L_ANKLE, R_ANKLE, min_score) or midpoint(kp, L_KNEE, R_KNEE, min_score)
    return _lean(feet, midpoint(kp, L_SHOULDER, R_SHOULDER, min_score))


def joint_angle(kp: Rows, name: str, min_score: float) -> float | None:
    """The named joint's angle in degrees (180: a straight limb), or None if a keypoint is not visible.

    ``atan2(|u x w|, u . w)``: stable for straight and folded limbs, where ``acos`` loses digits.
    """
    a, b, c = JOINTS[name]
    pa, pb, pc = kp[a], kp[b], kp[c]
    if min(pa[2], pb[2], pc[2]) < min_score:
        return None
    ux, uy = pa[0] - pb[0], pa[1] - pb[1]
    wx, wy = pc[0] - pb[0], pc[1] - pb[1]
    if (ux == 0 and uy == 0) or (wx == 0 and wy == 0):
        return None
    return math.degrees(math.atan2(abs(ux * wy - uy * wx), ux * wx + uy * wy))


def joint_angles(keypoints: np.ndarray | Rows, min_score: float) -> dict[str, float | None]:
    """Every angle of :data:`JOINTS` for one pose."""
    kp = rows(keypoints)
    return {name: joint_angle(kp, name, min_score) for name in JOINTS}


def visible_extent(kp: Rows, min_score: float) -> tuple[float, float, float] | None:
    """``(top, bottom, height)`` in pixels of the visible keypoints, or None with fewer than two."""
    ys = [p[1] for p in kp if p[2] >= min_score]
    if len(ys) < 2:
        return None
    top, bottom = min(ys), max(ys)
    return float(top), float(bottom), float(bottom - top)


# --- every pose of a frame at once: the fall detector's measurements as above over (P, 17, 3) ----------
# (the joint angles of every pose: edgepose.analysis.angles.joint_angles)


def _lean_all(bottom: np.ndarray, top: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """:func:`_lean` of every pose, NaN where unknown."""
    dx, dy = top[:, 0] - bottom[:, 0], top[:, 1] - bottom[:, 1]
    ok = ok & ((dx != 0) | (dy != 0))
    return np.where(ok, np.degrees(np.arctan2(np.abs(dx), -dy)), np.nan)


@dataclasses.dataclass(frozen=True, slots=True)
class BodyMeasures:
    """The fall detector's measurements of P poses, ``(P,)`` float64 each, NaN where not visible."""

    hip_x: np.ndarray
    hip_y: np.ndarray
    lean: np.ndarray  # torso
    body: np.ndarray  # feet (ankles, else knees) -> shoulders
    bottom: np.ndarray
    height: np.ndarray


_PAIRS = np.array([[L_HIP, R_HIP], [L_SHOULDER, R_SHOULDER], [L_ANKLE, R_ANKLE], [L_KNEE, R_KNEE]], np.intp)


def body_measures(keypoints: np.ndarray, min_score: float) -> BodyMeasures:
    """:func:`hip_centre`, :func:`torso_lean`, :func:`body_lean` and :func:`visible_extent` of every pose.

    The four midpoints (hips, shoulders, ankles, knees) of every pose are taken in one pass.
    """
    kp = np.asarray(keypoints, np.float64).reshape(-1, 17, 3)
    pairs = kp[:, _PAIRS]  # (P, 4, 2, 3)
    seen = pairs[..., 2] >= min_score  # (P, 4, 2)
    n = seen.sum(axis=2)  # (P, 4)
    mids = (pairs[..., :2] * seen[..., None]).sum(axis=2) / np.maximum(n, 1)[..., None]  # (P, 4, 2)
    ok = n > 0
    hips, shoulders = mids[:, 0], mids[:, 1]
    feet = np.where(ok[:, 2, None], mids[:, 2], mids[:, 3])  # ankles, else knees
    visible = kp[..., 2] >= min_score
    y = kp[..., 1]
    top = np.where(visible, y, np.inf).min(axis=1)
    bottom = np.where(visible, y, -np.inf).max(axis=1)
    enough = visible.sum(axis=1) >= 2
    return BodyMeasures(
        np.where(ok[:, 0], hips[:, 0], np.nan),
        np.where(ok[:, 0], hips[:, 1], np.nan),
        _lean_all(hips, shoulders, ok[:, 0] & ok[:, 1]),
        _lean_all(feet, shoulders, (ok[:, 2] | ok[:, 3]) & ok[:, 1]),
        np.where(enough, bottom, np.nan),
        np.where(enough, bottom - top, np.nan),
    )
