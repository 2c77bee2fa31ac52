"""Schema v1 pose documents: what every sink writes and every subscriber reads.

The JSON Schema is ``edgepose/schema/poses.v1.json``; bump ``SCHEMA`` on any incompatible change.
A frame's document is :func:`to_document`; each pose's entry is built in :func:`pose_entry` (one
person) and :func:`pose_entries` (several, as arrays). Fields an analysis stage computes per pose
(``angles``, and those a behaviour adds) come from ``result.analysis.pose_fields`` and are
appended to every entry by :func:`to_document`, after ``keypoints``; each needs its place in the schema.
BlazePose's poses also carry ``landmarks`` and ``world`` (:func:`add_landmarks`), right after ``keypoints``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
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
    if result.analysis is not None and result.analysis.pose_fields:
        add_pose_fields(document["poses"], result.analysis.pose_fields)
    if result.file:  # image sources: which file this is (``frame`` counts only the images that decoded)
        document["file"] = result.file
    return document


def round_half_even(values: np.ndarray, digits: int | np.ndarray) -> np.ndarray:
    """``round(v, digits)`` of every value, as a float64 array: the same numbers, not one Python call each.

    ``digits`` is one int or an array of them broadcast against ``values``. ``rint(v * 10**d) / 10**d``
    (what ``np.round`` does) scales in binary, so it differs from ``round`` (which rounds the exact
    decimal value) only where the scaled value is within rounding error of a half: those few are
    taken from ``round`` itself. Float32 inputs scale exactly, so they only meet true halves.
    """
    values = np.asarray(values, np.float64)
    scale = 10.0 ** np.asarray(digits, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # |v| > 1e300 overflows; inf - inf is NaN, never near
        scaled = values * scale
        out = np.rint(scaled) / scale
        size = np.abs(scaled)
        near = np.abs(scaled - np.floor(scaled) - 0.5) <= 1e-12 * (size + 1.0)
        near |= (size == np.inf) & (np.abs(values) < np.inf)  # scaling overflowed: round knows better
    if near.any():
        which = np.nonzero(near)
        places = np.broadcast_to(np.asarray(digits), values.shape)[which].tolist()
        out[which] = [round(v, d) for v, d in zip(values[which].tolist(), places, strict=True)]
    return out


# Digits of one pose's values packed in a row: 17 (x, y, score), the box, the pose's score.
POSE_DIGITS = np.array([2, 2, 4] * 17 + [2] * 4 + [4])


# A pose's entry: these keys, in this order (pose_entry and pose_entries build the same dict).
# Optional per-pose fields (computed by a pose stage after tracking) are appended after
# "keypoints" by add_pose_fields, so the schema v1 keys keep their order.


def add_pose_fields(entries: list[dict[str, Any]], fields: Mapping[str, Sequence[Any]]) -> None:
    """Append each ``field -> one JSON value per pose`` to the poses' entries, in pose order.

    The values must be JSON already (None, not NaN, for an unknown number: see
    :class:`~edgepose.analysis.stage.AngleEntries`); a field with another length than the poses
    is a bug in the stage that made it, so it raises.
    """
    for name, values in fields.items():
        if len(values) != len(entries):
            raise ValueError(f"pose field {name!r} has {len(values)} values for {len(entries)} poses")
        for entry, value in zip(entries, values, strict=True):
            entry[name] = value


def pose_entry(pose: Pose) -> dict[str, Any]:
    """One pose's entry number by number: what :func:`pose_entries` gives, cheaper for a single pose."""
    if not (np.isfinite(pose.keypoints).all() and all(math.isfinite(v) for v in (*pose.box, pose.score))):
        raise ValueError("Out of range float values are not JSON compliant: a pose holds NaN or inf")
    entry = {
        "id": pose.id,
        "score": round(float(pose.score), 4),
        "box": [round(float(v), 2) for v in pose.box],
        "keypoints": [[round(x, 2), round(y, 2), round(s, 4)] for x, y, s in pose.keypoints.tolist()],
    }
    if pose.landmarks is not None or pose.world is not None:
        add_landmarks(entry, pose)
    return entry


# Digits of a landmark (x, y, z pixels; visibility) and of a world landmark (x, y, z metres: 0.1 mm).
LANDMARK_DIGITS = np.array([2, 2, 2, 4])
WORLD_DIGITS = 4


def add_landmarks(entry: dict[str, Any], pose: Pose) -> None:
    """Append a BlazePose pose's ``landmarks`` (N x [x, y, z, visibility]) and ``world`` (N x [x, y, z]
    metres) to its entry, after ``keypoints``; each only where the pose has it."""
    for name, values, digits in (("landmarks", pose.landmarks, LANDMARK_DIGITS), ("world", pose.world, WORLD_DIGITS)):
        if values is None:
            continue
        if not np.isfinite(values).all():
            raise ValueError(f"Out of range float values are not JSON compliant: a pose's {name} hold NaN or inf")
        entry[name] = round_half_even(values, digits).tolist()


def pose_entries(poses: Sequence[Pose]) -> list[dict[str, Any]]:
    """The documents' ``poses``: coordinates rounded to 0.01 px, scores to 0.0001, as plain lists.

    Every number of every pose is packed in one array, checked finite and rounded at once
    (:func:`round_half_even`) instead of 56 ``round`` calls a person.
    """
    n = len(poses)
    if n == 0:
        return []
    if n == 1:  # one person (MoveNet): 56 round() calls cost less than the array steps
        return [pose_entry(poses[0])]
    pack = np.empty((n, len(POSE_DIGITS)), np.float64)
    for row, pose in zip(pack, poses, strict=True):
        row[:51] = pose.keypoints.reshape(-1)
        row[51:55] = pose.box
        row[55] = pose.score
    if not np.isfinite(pack).all():
        raise ValueError("Out of range float values are not JSON compliant: a pose holds NaN or inf")
    rounded = round_half_even(pack, POSE_DIGITS)
    keypoints = rounded[:, :51].reshape(n, 17, 3).tolist()
    boxes = rounded[:, 51:55].tolist()
    scores = rounded[:, 55].tolist()
    entries = [
        {"id": pose.id, "score": scores[i], "box": boxes[i], "keypoints": keypoints[i]} for i, pose in enumerate(poses)
    ]
    for entry, pose in zip(entries, poses, strict=True):
        if pose.landmarks is not None or pose.world is not None:
            add_landmarks(entry, pose)
    return entries


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
