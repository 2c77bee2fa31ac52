"""MoveNet's golden squat letterboxed into wider canvases: keypoint error per resize method and shrink.

The squat (500x610) is centred on black canvases 0 to 1400 px wider, so the same person is shrunk
2.6x to 9.9x into MoveNet Lightning's 192x192 input. Each cell is the mean / max keypoint error
against Google's reference CSV, per axis as a fraction of the canvas (as tests/test_golden_movenet.py
measures it). One image: it shows how each method behaves as the shrink grows, not an accuracy
ranking (docs/accuracy.md has the AP study).

    python scripts/resize_shrinks.py --shared ../shared
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgepose.config.sections import DecoderConfig
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.resize import METHODS
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.sources.files import read_image

MOVENET = "movenet_single_pose_lightning_ptq.tflite"
PADS = (0, 200, 400, 600, 900, 1400)


def reference(path: Path) -> np.ndarray:
    """``(17, 2)`` of (x, y) normalized to the squat image."""
    with path.open() as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["keypoint_id"]))
    return np.array([[float(r["keypoint_x"]), float(r["keypoint_y"])] for r in rows])


def errors(shared: Path) -> dict[str, list[tuple[float, float]]]:
    """method -> (mean, max) error per canvas of PADS."""
    image = read_image(shared / "images" / "squat.bmp")
    h, w = image.shape[:2]
    ref = reference(shared / "models" / "movenet_single_pose_lightning_ptq_reference.csv") * [w, h]
    engine = LiteRtEngine(read_model(shared / "models" / MOVENET), threads=2)
    out: dict[str, list[tuple[float, float]]] = {}
    for name in METHODS:
        estimator = PoseEstimator(engine, DecoderConfig(min_pose_score=0), resize=name)
        cells = []
        for pad in PADS:
            canvas = np.zeros((h, w + pad, 3), np.uint8)
            canvas[:, pad // 2 : pad // 2 + w] = image
            kp = estimator.estimate(Frame(canvas, 0, 0.0, 0.0)).poses[0].keypoints
            err = np.abs(kp[:, :2] - [pad // 2, 0] - ref) / [w + pad, h]
            cells.append((float(err.mean()), float(err.max())))
        out[name] = cells
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args(argv)
    w = 500
    print("| method | " + " | ".join(f"{(w + p) / 192:.1f}x" for p in PADS) + " |")
    print("|---|" + "--:|" * len(PADS))
    for name, cells in errors(args.shared).items():
        print(f"| {name} | " + " | ".join(f"{m:.4f} / {x:.4f}" for m, x in cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
