"""Drawing what the analysis found: zones with their state, joint angles by their joints, and the
behaviours' findings by each person (the matched pose, repetition counts, a fall).

Pure functions like :mod:`edgepose.viz.draw`: they return a new RGB image and never touch the
one they are given. Zone polygons are normalized (0..1); angles sit at their vertex keypoint, in
the pose's pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.analysis.events import FallState, ZoneState
from edgepose.analysis.joints import ANGLE_NAMES, ANGLES
from edgepose.analysis.zones import Zone
from edgepose.keypoints import KP
from edgepose.pose import Pose
from edgepose.sources.files import require_cv2
from edgepose.viz import Style, draw_poses

OCCUPIED = (255, 64, 64)  # RGB
EMPTY = (64, 200, 96)
UNKNOWN = (200, 200, 200)  # no state yet
TEXT = (255, 255, 255)
SHADOW = (0, 0, 0)
FILL_ALPHA = 0.18
FALLEN = (255, 32, 32)  # RGB: a person down


def draw_zones(image: np.ndarray, zones: Sequence[Zone], states: Mapping[str, ZoneState] | None = None) -> np.ndarray:
    """A copy of ``image`` with each zone filled lightly and outlined: red while occupied, green when
    empty, grey without a state; labelled ``name`` and, with a state, ``: count``."""
    cv2 = require_cv2()
    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    states = states or {}
    shapes = []
    for zone in zones:
        state = states.get(zone.name)
        color = UNKNOWN if state is None else OCCUPIED if state.occupied else EMPTY
        pts = np.rint(np.asarray(zone.polygon) * (w - 1, h - 1)).astype(np.int32)
        shapes.append((zone, state, color, pts))
    fill = out.copy()
    for _, _, color, pts in shapes:
        cv2.fillPoly(fill, [pts], color)
    out = cv2.addWeighted(fill, FILL_ALPHA, out, 1 - FILL_ALPHA, 0)
    for zone, state, color, pts in shapes:
        cv2.polylines(out, [pts], True, color, 2, cv2.LINE_AA)
        label = zone.name if state is None else f"{zone.name}: {state.count}"
        x, y = int(pts[:, 0].min()) + 4, int(pts[:, 1].min()) + 16
        _text(cv2, out, label, (x, min(max(y, 14), h - 4)))
    return out


def draw_angles(
    image: np.ndarray, poses: Sequence[Pose], angles: np.ndarray, names: Sequence[str] = ANGLE_NAMES
) -> np.ndarray:
    """A copy of ``image`` with each known angle of ``(P, A)`` ``angles`` (degrees, NaN unknown,
    columns ``names``) written at its vertex: the joint, or the mid-hips for ``torso_lean``."""
    cv2 = require_cv2()
    out = np.ascontiguousarray(image).copy()
    for pose, row in zip(poses, np.asarray(angles, np.float64).reshape(len(poses), -1), strict=True):
        kp = pose.keypoints
        for name, value in zip(names, row, strict=True):
            if not np.isfinite(value):
                continue
            vertex = ANGLES[name][1]
            if vertex == "mid_hip":
                x, y = (kp[KP["left_hip"], :2] + kp[KP["right_hip"], :2]) / 2
            else:
                x, y = kp[KP[vertex], :2]
            _text(cv2, out, f"{value:.0f}", (round(float(x)) + 6, round(float(y)) - 6))
    return out


def behaviour_labels(match: Mapping[str, object] | None, reps: Mapping[str, int] | None, down: bool) -> list[str]:
    """The lines written by one person: ``FALL`` while down, ``tree 0.93`` (the best match), ``squat 3``."""
    lines = ["FALL"] if down else []
    if match is not None:
        lines.append(f"{match['pose']} {float(match['score']):.2f}")  # type: ignore[arg-type]
    if reps:
        lines.append("  ".join(f"{name} {count}" for name, count in reps.items()))
    return lines


def draw_behaviours(
    image: np.ndarray,
    poses: Sequence[Pose],
    match: Sequence[Mapping[str, object] | None] | None,
    reps: Sequence[Mapping[str, int] | None] | None,
    down: Sequence[int] = (),
) -> np.ndarray:
    """A copy of ``image`` with each person's :func:`behaviour_labels` above their box (``match`` and
    ``reps``: the per-pose document fields, None when off), and a red box round each pose whose
    track id is in ``down``."""
    cv2 = require_cv2()
    out = np.ascontiguousarray(image).copy()
    h = out.shape[0]
    fallen = set(down)
    for i, pose in enumerate(poses):
        is_down = pose.id is not None and pose.id in fallen
        lines = behaviour_labels(match[i] if match else None, reps[i] if reps else None, is_down)
        x0, y0, x1, y1 = (round(float(v)) for v in pose.box)
        if is_down:
            cv2.rectangle(out, (x0, y0), (x1, y1), FALLEN, 3, cv2.LINE_AA)
        for j, line in enumerate(reversed(lines)):  # bottom line just above the box
            y = min(max(y0 - 6 - 16 * j, 14), h - 4)
            _text(cv2, out, line, (x0, y))
    return out


def angles_of(pose_angles: Sequence[Mapping[str, float | None] | None]) -> np.ndarray:
    """``(P, A)`` degrees (NaN unknown) from documents' per-pose ``angles`` objects (None: no angles)."""
    rows = [[np.nan if (a is None or a.get(n) is None) else float(a[n]) for n in ANGLE_NAMES] for a in pose_angles]  # type: ignore[arg-type]
    return np.array(rows, np.float64).reshape(len(rows), len(ANGLE_NAMES))


def _text(cv2: object, out: np.ndarray, text: str, at: tuple[int, int]) -> None:
    """White text with a dark outline, readable on any background."""
    font = cv2.FONT_HERSHEY_SIMPLEX  # type: ignore[attr-defined]
    cv2.putText(out, text, at, font, 0.45, SHADOW, 3, cv2.LINE_AA)  # type: ignore[attr-defined]
    cv2.putText(out, text, at, font, 0.45, TEXT, 1, cv2.LINE_AA)  # type: ignore[attr-defined]


class LiveOverlay:
    """The preview's overlay: zones with their latest state and angles, drawn on sampled frames.

    :meth:`note` runs on the pipeline thread for every frame (zone states change on frames the
    preview does not sample); :meth:`snapshot` is taken with the sampled frame, and :meth:`draw`
    runs on the preview's encoder thread with that snapshot.
    """

    def __init__(
        self, zones: Sequence[Zone], with_zones: bool, with_angles: bool, with_behaviours: bool = False
    ) -> None:
        self.zones = list(zones) if with_zones else []
        self.with_angles = with_angles
        self.with_behaviours = with_behaviours
        self._states: dict[str, ZoneState] = {}
        self._falls: FallState | None = None

    def note(self, analysis: object | None) -> None:
        for state in getattr(analysis, "zones", ()):
            self._states[state.zone] = state
        falls = getattr(analysis, "falls", None)
        if falls is not None:
            self._falls = falls

    def snapshot(self) -> dict[str, ZoneState]:
        return dict(self._states)

    def down(self) -> tuple[int, ...]:
        """The tracks down after the last frame noted."""
        return self._falls.track_ids if self._falls is not None else ()

    def draw(
        self,
        image: np.ndarray,
        poses: Sequence[Pose],
        analysis: object | None,
        states: Mapping[str, ZoneState],
        style: Style,
    ) -> np.ndarray:
        """Zones under the poses (drawn with ``style``), angles over them."""
        if self.zones:
            image = draw_zones(image, self.zones, states)
        image = draw_poses(image, poses, style)
        fields = getattr(analysis, "pose_fields", {})
        angles = fields.get("angles")
        if self.with_angles and angles is not None:
            image = draw_angles(image, poses, angles.degrees)
        if self.with_behaviours:
            falls = getattr(analysis, "falls", None)
            down = falls.track_ids if falls is not None else self.down()
            image = draw_behaviours(image, poses, fields.get("match"), fields.get("reps"), down)
        return image
