"""Builders of valid edgepose documents for fleet tests and the fleet benchmark (no camera, no model)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def pose_document(device: str, camera: str, frame: int, ts: float, people: int = 3, seed: int = 0) -> dict[str, Any]:
    """A pose document (``edgepose.poses/1``) with ``people`` plausible people in a 640x480 frame."""
    rng = np.random.default_rng(seed * 1_000_003 + frame)
    poses = []
    for person in range(people):
        x0, y0 = 40.0 + 180 * person, 60.0
        points = np.column_stack([x0 + rng.uniform(0, 120, 17), y0 + rng.uniform(0, 360, 17), rng.uniform(0.3, 1, 17)])
        poses.append(
            {
                "id": person,
                "score": round(float(points[:, 2].mean()), 4),
                "box": [
                    round(float(v), 1)
                    for v in (points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max())
                ],
                "keypoints": [[round(float(x), 1), round(float(y), 1), round(float(s), 3)] for x, y, s in points],
            }
        )
    return {
        "schema": "edgepose.poses/1",
        "device": device,
        "camera": camera,
        "frame": frame,
        "ts": ts,
        "width": 640,
        "height": 480,
        "model": "movenet_lightning",
        "accelerator": "cpu",
        "timing_ms": {"preprocess": 1.0, "inference": 20.0, "decode": 0.5, "total": 21.5},
        "poses": poses,
    }


def stats_document(device: str, camera: str, ts: float) -> dict[str, Any]:
    return {
        "schema": "edgepose.stats/1",
        "device": device,
        "camera": camera,
        "ts": ts,
        "uptime_s": 10.0,
        "captured": 150,
        "processed": 150,
        "skipped": 0,
        "failed": 0,
        "camera_fps": 15.0,
        "processed_fps": 15.0,
        "inference_ms_p50": 20.0,
        "inference_ms_p95": 25.0,
        "decode_ms_p50": 0.5,
        "cpu_temperature_c": None,
        "throttled": None,
        "rss_bytes": 1000,
        "mqtt": {
            "connected": 1,
            "queue_depth": 0,
            "published": 150,
            "dropped": 0,
            "skipped_policy": 0,
            "reconnects": 0,
        },
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
