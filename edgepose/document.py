"""Schema v1 pose documents: what every sink writes and every subscriber reads.

The JSON Schema is ``edgepose/schema/poses.v1.json``; bump ``SCHEMA`` on any incompatible change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgepose.pose import FrameResult

SCHEMA = "edgepose.poses/1"


@dataclass(frozen=True)
class Stamp:
    """What is the same on every document of a run."""

    device: str
    model: str
    accelerator: str


def to_document(result: FrameResult, stamp: Stamp) -> dict[str, Any]:
    """The schema v1 document of one processed frame (coordinates rounded to 0.01 px)."""
    t = result.timing
    document = {
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
        "poses": [
            {
                "id": pose.id,
                "score": round(float(pose.score), 4),
                "box": [round(float(v), 2) for v in pose.box],
                "keypoints": [
                    [round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in pose.keypoints
                ],
            }
            for pose in result.poses
        ],
    }
    if result.file:  # image sources: which file this is (``frame`` counts only the images that decoded)
        document["file"] = result.file
    return document


def encode(document: dict[str, Any]) -> str:
    """Compact JSON, one line; ``allow_nan=False`` so a NaN never reaches a subscriber's parser."""
    return json.dumps(document, separators=(",", ":"), allow_nan=False)
