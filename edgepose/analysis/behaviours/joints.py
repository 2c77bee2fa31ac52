"""The named joint angles: plain data, so the config can check angle names without NumPy.

The CLI's parser and ``check-config`` import the config sections, which name these angles; keeping
the table here keeps NumPy out of that import (``geometry`` computes the angles).
"""

from __future__ import annotations

from edgepose.keypoints import KP

# Named joint angles as (a, b, c): the angle at b between b->a and b->c, in degrees.
JOINTS: dict[str, tuple[int, int, int]] = {
    "left_elbow": (KP["left_shoulder"], KP["left_elbow"], KP["left_wrist"]),
    "right_elbow": (KP["right_shoulder"], KP["right_elbow"], KP["right_wrist"]),
    "left_shoulder": (KP["left_elbow"], KP["left_shoulder"], KP["left_hip"]),
    "right_shoulder": (KP["right_elbow"], KP["right_shoulder"], KP["right_hip"]),
    "left_hip": (KP["left_shoulder"], KP["left_hip"], KP["left_knee"]),
    "right_hip": (KP["right_shoulder"], KP["right_hip"], KP["right_knee"]),
    "left_knee": (KP["left_hip"], KP["left_knee"], KP["left_ankle"]),
    "right_knee": (KP["right_hip"], KP["right_knee"], KP["right_ankle"]),
}
