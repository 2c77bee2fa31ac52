"""Skeleton overlays drawn with OpenCV on RGB frames.

Everything here is a pure function of its inputs: ``draw_poses`` returns a new image and never
touches the frame it was given (the pipeline may still be using it). Coordinates are pixels of the
frame, origin top-left, as in :class:`~edgepose.pose.Pose` and the schema v1 documents.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgepose.decode.blazepose.landmarks import LANDMARK_NAMES, LANDMARK_SKELETON
from edgepose.errors import InputError
from edgepose.keypoints import NUM_KEYPOINTS, SKELETON
from edgepose.opencv import require_cv2
from edgepose.pose import Pose

RGB = tuple[int, int, int]
OUTLINE: RGB = (0, 0, 0)  # dark ring around keypoints so they stay visible on light clothes
GOLDEN = 0.618033988749895  # hue step: consecutive ids get well-separated colours


@dataclass(frozen=True)
class Style:
    """How poses are drawn; sizes are in pixels of the frame being drawn on."""

    min_keypoint_score: float = 0.2  # keypoints (and edges touching them) below this are not drawn
    radius: int = 4
    line_width: int = 2
    boxes: bool = True
    labels: bool = True
    font_scale: float = 0.5


def color_for(track_id: int | None, index: int = 0) -> RGB:
    """A bright colour per track id, stable across frames; untracked poses are coloured by position."""
    n = track_id if track_id is not None else index
    r, g, b = colorsys.hsv_to_rgb((0.1 + n * GOLDEN) % 1.0, 0.85, 1.0)
    return (round(r * 255), round(g * 255), round(b * 255))


def draw_poses(image: np.ndarray, poses: Sequence[Pose], style: Style = Style()) -> np.ndarray:
    """A copy of ``image`` (``(H, W, 3)`` uint8, RGB) with every pose drawn on it.

    Drawing order per pose: box, skeleton edges, keypoint rings, keypoints, label, so keypoints stay on top.
    """
    cv2 = require_cv2()
    out = np.ascontiguousarray(image).copy()
    for i, pose in enumerate(poses):
        color = color_for(pose.id, i)
        points, edges = skeleton_of(pose)
        visible = points[:, 2] >= style.min_keypoint_score
        pts = np.rint(points[:, :2]).astype(np.int32)
        if style.boxes:
            x0, y0, x1, y1 = (round(v) for v in pose.box)
            cv2.rectangle(out, (x0, y0), (x1, y1), color, 1, cv2.LINE_AA)
        for a, b in edges:
            if visible[a] and visible[b]:
                cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, style.line_width, cv2.LINE_AA)
        shown = [tuple(pts[j]) for j in np.flatnonzero(visible)]
        for centre in shown:  # all rings first, so one keypoint's ring never covers a neighbour's centre
            cv2.circle(out, centre, style.radius + 1, OUTLINE, -1, cv2.LINE_AA)
        for centre in shown:
            cv2.circle(out, centre, style.radius, color, -1, cv2.LINE_AA)
        if style.labels:
            _label(cv2, out, pose, color, style)
    return out


def skeleton_of(pose: Pose) -> tuple[np.ndarray, Sequence[tuple[int, int]]]:
    """The points ``(N, 3)`` (x, y, score) and edges to draw: BlazePose's 33 landmarks (score = visibility)
    where the pose has them, else the 17 COCO keypoints."""
    if pose.landmarks is not None and len(pose.landmarks) == len(LANDMARK_NAMES):
        return pose.landmarks[:, [0, 1, 3]], LANDMARK_SKELETON
    return pose.keypoints, SKELETON


def _label(cv2: Any, out: np.ndarray, pose: Pose, color: RGB, style: Style) -> None:
    """``#id score`` on a filled tag just above the box (inside the frame when the box touches the top)."""
    text = (f"#{pose.id} " if pose.id is not None else "") + f"{pose.score:.2f}"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, 1)
    x0, y0 = round(pose.box[0]), round(pose.box[1])
    top = max(0, y0 - th - base - 2)
    cv2.rectangle(out, (x0, top), (x0 + tw + 4, top + th + base + 2), color, -1)
    cv2.putText(out, text, (x0 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, OUTLINE, 1, cv2.LINE_AA)


def poses_from_document(document: Mapping[str, Any]) -> tuple[Pose, ...]:
    """The poses of a schema v1 document (as read from JSONL or MQTT) as :class:`Pose` values."""
    try:
        return tuple(_pose(p) for p in document["poses"])
    except (KeyError, TypeError, ValueError) as exc:
        frame = document.get("frame", "?") if isinstance(document, Mapping) else "?"
        raise InputError(f"frame {frame}: not a schema v1 pose document ({exc})") from None


def _pose(p: Mapping[str, Any]) -> Pose:
    kp = np.asarray(p["keypoints"], np.float32)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints have shape {kp.shape}")
    box = tuple(float(v) for v in p["box"])
    landmarks = np.asarray(p["landmarks"], np.float32) if "landmarks" in p else None
    if landmarks is not None and landmarks.shape != (len(LANDMARK_NAMES), 4):
        raise ValueError(f"landmarks have shape {landmarks.shape}")
    return Pose(kp, float(p["score"]), box, p.get("id"), landmarks)  # type: ignore[arg-type]


def visible_keypoints(poses: Iterable[Pose], min_score: float) -> np.ndarray:
    """``(N, 2)`` pixel positions of every keypoint that ``draw_poses`` draws with ``min_score``."""
    points = [skeleton_of(p)[0] for p in poses]
    rows = [pts[pts[:, 2] >= min_score, :2] for pts in points]
    return np.concatenate(rows) if rows else np.zeros((0, 2), np.float32)
