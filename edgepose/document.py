"""The pose document's names where they were first published; they live in :mod:`edgepose.documents`."""

from __future__ import annotations

from edgepose.documents.poses import (
    POSE_DIGITS,
    SCHEMA,
    PoseDocument,
    Stamp,
    encode,
    pose_entries,
    pose_entry,
    round_half_even,
    to_document,
)

__all__ = [
    "POSE_DIGITS",
    "SCHEMA",
    "PoseDocument",
    "Stamp",
    "encode",
    "pose_entries",
    "pose_entry",
    "round_half_even",
    "to_document",
]
