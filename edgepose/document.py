"""Schema v1 pose documents: what every sink writes and every subscriber reads.

The JSON Schema is ``edgepose/schema/poses.v1.json``; bump ``SCHEMA`` on any incompatible change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:  # a dependency except on 32-bit ARM, where json does the work
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None

from edgepose.pose import FrameResult, Pose

SCHEMA = "edgepose.poses/1"


class PoseDocument(dict[str, Any]):
    """A schema v1 document from :func:`to_document`, whose numbers are all finite."""


@dataclass(frozen=True)
class Stamp:
    """What is the same on every document of a run."""

    device: str
    model: str
    accelerator: str


def to_document(result: FrameResult, stamp: Stamp) -> PoseDocument:
    """The schema v1 document of one processed frame (coordinates rounded to 0.01 px).

    Raises ``ValueError`` (as ``json`` with ``allow_nan=False`` did) if a number is NaN or inf.
    """
    t = result.timing
    times = (result.ts, t.preprocess, t.inference, t.decode, t.total)
    if not all(math.isfinite(v) for v in times):
        raise ValueError(f"Out of range float values are not JSON compliant: frame {result.frame_index} times {times}")
    document = PoseDocument(
        {
            "schema": SCHEMA,
            "device": stamp.device,
            "camera": result.camera,
            "frame": result.frame_index,
            "ts": round(result.ts, 6),
            "width": result.width,
            "height": result.height,
            "model": stamp.model,
            "accelerator": stamp.accelerator,
            "timing_ms": {
                "preprocess": round(t.preprocess, 3),
                "inference": round(t.inference, 3),
                "decode": round(t.decode, 3),
                "total": round(t.total, 3),
            },
            "poses": pose_entries(result.poses),
        }
    )
    if result.file:  # image sources: which file this is (``frame`` counts only the images that decoded)
        document["file"] = result.file
    return document


def round_half_even(values: np.ndarray, digits: int) -> np.ndarray:
    """``round(v, digits)`` of every value, as a float64 array: the same numbers, not one Python call each.

    ``np.round`` scales by ``10**digits`` in binary, so it differs from ``round`` (which rounds the
    exact decimal value) only where the scaled value is within rounding error of a half: those few
    are taken from ``round`` itself. Float32 inputs scale exactly; no fallback is needed for them.
    """
    values = np.asarray(values, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # |v| > 1e300 overflows; inf - inf is NaN, never near
        out = np.round(values, digits)
        scaled = values * 10.0**digits
        near = np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) <= 1e-12 * (np.abs(scaled) + 1.0)
    near |= np.isinf(scaled) & np.isfinite(values)  # scaling overflowed (|v| > 1e300): round knows better
    if near.any():
        out[near] = [round(v, digits) for v in values[near].tolist()]
    return out


def pose_entries(poses: Sequence[Pose]) -> list[dict[str, Any]]:
    """The documents' ``poses``: coordinates rounded to 0.01 px, scores to 0.0001, as plain lists.

    Rounded as arrays (:func:`round_half_even`) instead of 700 ``round`` calls for 13 people.
    """
    if not poses:
        return []
    keypoints = np.array([p.keypoints for p in poses], np.float64)  # (N, 17, 3)
    boxes = np.array([p.box for p in poses], np.float64)
    scores = np.array([p.score for p in poses], np.float64)
    if not (np.isfinite(keypoints).all() and np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError("Out of range float values are not JSON compliant: a pose holds NaN or inf")
    keypoints[..., :2] = round_half_even(keypoints[..., :2], 2)
    keypoints[..., 2] = round_half_even(keypoints[..., 2], 4)
    boxes = round_half_even(boxes, 2).tolist()
    scores = round_half_even(scores, 4).tolist()
    return [
        {"id": pose.id, "score": score, "box": box, "keypoints": kps}
        for pose, score, box, kps in zip(poses, scores, boxes, keypoints.tolist(), strict=True)
    ]


def encode(document: dict[str, Any]) -> str:
    """Compact JSON, one line; a NaN or inf never reaches a subscriber's parser.

    A :class:`PoseDocument` (every number checked finite by :func:`to_document`) goes through
    orjson, which would write NaN as ``null``; any other document, or where orjson is missing or
    meets a type it does not know (a NumPy scalar), through ``json`` with ``allow_nan=False``,
    which raises. Both give the same document once parsed, keys in the same order.
    """
    if orjson is not None and type(document) is PoseDocument:
        try:
            return orjson.dumps(document).decode()
        except TypeError:
            pass  # json serializes float subclasses such as np.float64, or names what it cannot
    return json.dumps(document, separators=(",", ":"), allow_nan=False)
