"""The named joint angles: the one table every angle is computed from, as plain data.

Each angle is ``name -> (end, vertex, end)``: the angle at the vertex between the rays to the two
ends, by keypoint name or one of three pseudo points: ``mid_shoulder`` and ``mid_hip`` (the mean of
the pair's visible keypoints) and ``up`` (straight above the vertex, image -y). ``meta`` publishes
the table and each pose's ``angles`` follows its order, so names and order are part of the
documents. Readers: :func:`edgepose.analysis.angles.joint_angles` (every pose of a frame), its
compiled twin (:func:`edgepose.kernels.behaviour.angle_points`), the behaviours' one-pose
:func:`edgepose.analysis.behaviours.geometry.joint_angle` and the config's repetition angles.

No NumPy here: the command line's parser and ``check-config`` read the config sections, which name
these angles, and must load without it.
"""

from __future__ import annotations

from edgepose.keypoints import KP, NUM_KEYPOINTS

# The pseudo points' indices after the 17 keypoints (the compiled kernel's points).
MID_SHOULDER, MID_HIP, UP = NUM_KEYPOINTS, NUM_KEYPOINTS + 1, NUM_KEYPOINTS + 2
PSEUDO_POINTS = ("mid_shoulder", "mid_hip", "up")
POINTS: dict[str, int] = {**KP, "mid_shoulder": MID_SHOULDER, "mid_hip": MID_HIP, "up": UP}

# name -> (end, vertex, end) by keypoint (or pseudo point) name; published in `meta`, in this order.
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

# Every angle as indices into POINTS (the 17 keypoints, then mid_shoulder, mid_hip, up).
ANGLE_POINTS: tuple[tuple[int, int, int], ...] = tuple((POINTS[a], POINTS[v], POINTS[b]) for a, v, b in ANGLES.values())

# The angles between three keypoints (no pseudo point): name -> keypoint indices, in table order.
# The limb angles a repetition is measured on (``RepSpec.angles``).
JOINTS: dict[str, tuple[int, int, int]] = {
    name: (KP[a], KP[v], KP[b]) for name, (a, v, b) in ANGLES.items() if a in KP and v in KP and b in KP
}
