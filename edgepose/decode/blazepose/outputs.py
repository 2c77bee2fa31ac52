"""Which output of a BlazePose model is which, told by shape, and one invoke's outputs decoded.

Roles are found by shape, not by name or index, so any landmark model of the family (lite, full,
heavy) is recognized: landmarks ``[1, 195]`` (39 x 5), the pose flag ``[1, 1]``, heatmaps
``[1, H, W, 39]``, world landmarks ``[1, 117]`` (39 x 3) and a segmentation ``[1, H, W, 1]``,
which is not read. The detector has boxes ``[1, N, 12]`` and score logits ``[1, N, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgepose.decode.blazepose.landmarks import (
    HEATMAP_KERNEL,
    NUM_LANDMARKS,
    NUM_OUTPUT_LANDMARKS,
    decode_landmarks,
    project,
    refine_with_heatmap,
    world_landmarks,
)
from edgepose.decode.blazepose.region import RotatedRect
from edgepose.errors import FrameError
from edgepose.inference.engine import TensorSpec

FORMAT = "blazepose"
DESCRIPTION = "BlazePose landmarks [1,195] + pose flag [1,1] (heatmaps [1,H,W,39], world [1,117]; detector beside it)"


def _size(spec: TensorSpec) -> int:
    return math.prod(spec.shape)


@dataclass(frozen=True, slots=True)
class LandmarkLayout:
    """Output indices of a landmark model; None where the model lacks that output."""

    landmarks: int
    flag: int
    heatmap: int | None
    world: int | None
    ignored: tuple[int, ...]  # outputs not read (the segmentation mask)


def landmark_layout(outputs: Sequence[TensorSpec], input_spec: TensorSpec) -> LandmarkLayout | None:
    """The layout of a BlazePose landmark model's outputs, or None when they are not one."""
    if len(input_spec.shape) != 4 or input_spec.shape[3] != 3 or input_spec.dtype != np.float32:
        return None
    roles: dict[str, int] = {}
    ignored: list[int] = []
    for i, spec in enumerate(outputs):
        shape = spec.shape
        if len(shape) == 2 and shape[0] == 1 and shape[1] == NUM_OUTPUT_LANDMARKS * 5:
            role = "landmarks"
        elif len(shape) == 2 and shape == (1, 1):
            role = "flag"
        elif len(shape) == 4 and shape[3] == NUM_OUTPUT_LANDMARKS:
            role = "heatmap"
        elif len(shape) == 2 and shape[0] == 1 and shape[1] == NUM_OUTPUT_LANDMARKS * 3:
            role = "world"
        elif len(shape) == 4 and shape[3] == 1:
            ignored.append(i)
            continue
        else:
            return None
        if role in roles:
            return None
        roles[role] = i
    if "landmarks" not in roles or "flag" not in roles:
        return None
    return LandmarkLayout(roles["landmarks"], roles["flag"], roles.get("heatmap"), roles.get("world"), tuple(ignored))


def matches_landmarks(outputs: Sequence[TensorSpec], input_spec: TensorSpec) -> bool:
    return landmark_layout(outputs, input_spec) is not None


def detector_layout(outputs: Sequence[TensorSpec], input_spec: TensorSpec) -> tuple[int, int] | None:
    """``(boxes, scores)`` output indices of a BlazePose-style SSD detector, or None."""
    if len(input_spec.shape) != 4 or input_spec.shape[3] != 3 or len(outputs) != 2:
        return None
    shapes = [o.shape for o in outputs]
    for boxes, scores in ((0, 1), (1, 0)):
        b, s = shapes[boxes], shapes[scores]
        if len(b) == 3 and len(s) == 3 and b[1] == s[1] and s[2] == 1 and b[2] >= 4 and (b[2] - 4) % 2 == 0:
            return boxes, scores
    return None


@dataclass(frozen=True, slots=True)
class LandmarkResult:
    """One invoke of the landmark model, decoded.

    flag: the pose flag in [0, 1] (is a person in the crop). landmarks: ``(39, 5)`` float32
    ``(x, y, z, visibility, presence)`` with x, y in source pixels and z in pixels at the scale
    of x. world: ``(39, 3)`` float32 metres, or None without that output.
    """

    flag: float
    landmarks: np.ndarray
    world: np.ndarray | None


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise FrameError(f"the model's {what} output holds NaN or inf: frame skipped")
    return values


def checked_flag(outputs: Sequence[np.ndarray], layout: LandmarkLayout) -> float:
    """The pose flag, once the outputs :func:`decode_outputs` reads as they are (flag, landmarks,
    world) are known to be finite: a :class:`FrameError` is raised before anything is decoded."""
    flag = float(_finite(np.asarray(outputs[layout.flag], np.float32), "pose flag").reshape(-1)[0])
    _finite(np.asarray(outputs[layout.landmarks]), "landmark")
    if layout.world is not None:
        _finite(np.asarray(outputs[layout.world]), "world landmark")
    return flag


def decode_points(
    outputs: Sequence[np.ndarray],
    layout: LandmarkLayout,
    rect: RotatedRect,
    in_w: int,
    in_h: int,
    which: Sequence[int],
    kernel: int = HEATMAP_KERNEL,
) -> np.ndarray:
    """``(len(which), 2)`` float32 source pixels of landmarks ``which``, placed as :func:`decode_outputs`
    places them (each landmark's refinement reads only its own heatmap channel).

    The next frame's region needs two landmarks (33-34); decoding only those keeps the work
    between two invokes small.
    """
    index = list(which)
    values = np.asarray(outputs[layout.landmarks], np.float32).reshape(-1, 5)[index]
    xy = np.empty((len(index), 2), np.float32)
    xy[:, 0] = values[:, 0] / np.float32(in_w)
    xy[:, 1] = values[:, 1] / np.float32(in_h)
    if layout.heatmap is not None:
        xy = refine_with_heatmap(xy, outputs[layout.heatmap], kernel, channels=index)
    return rect.to_source(xy)


def decode_outputs(
    outputs: Sequence[np.ndarray],
    layout: LandmarkLayout,
    rect: RotatedRect,
    in_w: int,
    in_h: int,
    kernel: int = HEATMAP_KERNEL,
) -> LandmarkResult:
    """Decode one invoke read from ``rect``: landmarks refined on the heatmap, mapped to source pixels."""
    flag = float(_finite(np.asarray(outputs[layout.flag], np.float32), "pose flag").reshape(-1)[0])
    norm = decode_landmarks(_finite(np.asarray(outputs[layout.landmarks]), "landmark"), in_w, in_h)
    if layout.heatmap is not None:
        # NaN logits in the heatmap only ever lose the refinement (a NaN weight fails the peak test).
        norm[:, :2] = refine_with_heatmap(norm[:, :2], outputs[layout.heatmap], kernel)
    world = None
    if layout.world is not None:
        world = world_landmarks(_finite(np.asarray(outputs[layout.world]), "world landmark"), rect.rotation)
    return LandmarkResult(flag, project(norm, rect), world)


__all__ = [
    "DESCRIPTION",
    "FORMAT",
    "NUM_LANDMARKS",
    "LandmarkLayout",
    "LandmarkResult",
    "checked_flag",
    "decode_outputs",
    "decode_points",
    "detector_layout",
    "landmark_layout",
    "matches_landmarks",
]
