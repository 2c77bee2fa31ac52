#!/usr/bin/env python3
"""Preprocessing alone, old against new, interleaved, on real walking-crowd frames (ms a frame).

    python scripts/bench_preprocess.py [--shared ../shared] [--frames 100] [--rounds 15]

The regions are the ones the pipeline cuts: MoveNet's crop region, recorded once by running the
real model through the estimator (person-sized squares, the whole frame while nobody is followed),
and PoseNet's and YOLO11n-pose's whole frame. Each input is timed three ways, alternating within
every round frame by frame (in every order in turn), so all see the same machine load:

- ``old``: ``to_input_dtype(cut(...))`` into two buffers used in turn (the estimator before
  ``fill_input``);
- ``new``: :func:`edgepose.estimation.preprocess.fill_input` into two reused tensors;
- ``warp``: ``cv2.warpAffine`` of the whole frame straight into the tensor, with the pad as its
  constant border (uint8 inputs only; no Gaussian halvings, so not the same pixels: the table
  gives how many values differ from ``old`` and by how much at most).

MoveNet's regions are also timed with an int8 and a float32 input of the same size (models that
need a conversion pass). Prints the median over rounds of each round's mean, and the load average.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgepose.estimation.preprocess import (  # noqa: E402
    Region,
    cut,
    fill_input,
    full_region,
    input_tensor,
    letterbox,
    to_input_dtype,
)
from edgepose.estimation.resize import bilinear  # noqa: E402
from edgepose.tools.bench.frames import first_frames  # noqa: E402

MOVENET = "movenet_single_pose_lightning_ptq.tflite"


def movenet_regions(shared: Path, frames: list[np.ndarray]) -> list[Region]:
    """The regions the real MoveNet's crop region cuts from these frames, in order."""
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    engine = LiteRtEngine(read_model(shared / "models" / MOVENET), threads=2)
    estimator = PoseEstimator(engine, DecoderConfig())
    regions = []
    for i, image in enumerate(frames):
        prepared = estimator.prepare(Frame(image, i, 1.7e9 + i / 25, 100.0 + i / 25), continuous=True)
        regions.append(prepared.region)
        estimator.finish(prepared, engine.invoke(prepared.tensor), 0.0)
    return regions


class Case:
    """One input: its size, dtype, value range, layout and pad, and the region of each frame."""

    def __init__(self, name, regions, in_w, in_h, dtype, value_range="signed", nchw=False, pad=0) -> None:
        self.name, self.regions, self.in_w, self.in_h = name, regions, in_w, in_h
        self.dtype, self.value_range, self.nchw, self.pad = np.dtype(dtype), value_range, nchw, pad
        self.buffers = [np.zeros((in_h, in_w, 3), np.uint8) for _ in range(2)]
        self.targets = [input_tensor(in_h, in_w, self.dtype, 0.0, 0, value_range, nchw) for _ in range(2)]

    def old(self, image: np.ndarray, i: int) -> np.ndarray:
        rgb = cut(image, self.regions[i], self.in_w, self.in_h, self.buffers[i % 2], bilinear, self.pad)
        return to_input_dtype(rgb, self.dtype, 0.0, 0, self.value_range, self.nchw)

    def new(self, image: np.ndarray, i: int) -> np.ndarray:
        return fill_input(image, self.regions[i], self.targets[i % 2], bilinear, self.pad)

    def warp(self, image: np.ndarray, i: int) -> np.ndarray:
        import cv2

        r, out = self.regions[i], self.buffers[i % 2]
        sx, sy = self.in_w / r.w, self.in_h / r.h  # input pixels per source pixel; pixel centres at +0.5
        m = np.array([[sx, 0.0, (0.5 - r.x) * sx - 0.5], [0.0, sy, (0.5 - r.y) * sy - 0.5]])
        cv2.warpAffine(
            image,
            m,
            (self.in_w, self.in_h),
            dst=out,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(self.pad,) * 3,
        )
        return out[None]

    def variants(self) -> dict:
        found = {"old": self.old, "new": self.new}
        if self.dtype == np.uint8 and not self.nchw:
            found["warp"] = self.warp
        return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    frames = first_frames(args.shared / "videos" / "walking_crowd_720p.mp4", args.frames)
    h, w = frames[0].shape[:2]
    crop = movenet_regions(args.shared, frames)
    whole = full_region(w, h, 641, 481)
    cases = [
        Case("MoveNet 192 uint8, crop region", crop, 192, 192, np.uint8),
        Case("  the same, int8 input", crop, 192, 192, np.int8),
        Case("  the same, float32 input", crop, 192, 192, np.float32),
        Case("PoseNet 641x481 uint8, whole", [whole] * len(frames), 641, 481, np.uint8),
        Case(
            "YOLO 320 float32 NCHW, whole",
            [letterbox(w, h, 320, 320)] * len(frames),
            320,
            320,
            np.float32,
            "unit",
            True,
            114,
        ),
        Case(
            "YOLO 640 float32 NCHW, whole",
            [letterbox(w, h, 640, 640)] * len(frames),
            640,
            640,
            np.float32,
            "unit",
            True,
            114,
        ),
    ]
    whole_frames = sum(r.w >= w for r in crop)
    print(f"# {len(frames)} walking-crowd frames ({w}x{h}); MoveNet's crop region cut {whole_frames} whole")
    print(f"# load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    clock = time.perf_counter
    print(f"{'input':34}{'old':>8}{'new':>8}{'warp':>8}  new/old  warp/old  warp vs old: values differing, max")
    for case in cases:
        variants = case.variants()
        for fn in variants.values():  # warm up
            for i, image in enumerate(frames[:5]):
                fn(image, i)
        rounds: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        orders = list(itertools.permutations(names))  # each variant follows each other as often
        for k in range(args.rounds):
            spent = dict.fromkeys(names, 0.0)
            for i, image in enumerate(frames):  # frame by frame, each order of the variants in turn
                for name in orders[(k + i) % len(orders)]:
                    t0 = clock()
                    variants[name](image, i)
                    spent[name] += clock() - t0
            for name in names:
                rounds[name].append(spent[name] / len(frames) * 1e3)
        med = {name: float(np.median(v)) for name, v in rounds.items()}
        differ, worst = 0.0, 0
        same = all(np.array_equal(case.old(im, i), case.new(im, i)) for i, im in enumerate(frames))
        if "warp" in med:
            diffs = [np.abs(case.old(im, i).astype(np.int16) - case.warp(im, i)) for i, im in enumerate(frames)]
            differ = float(np.mean([(d > 0).mean() for d in diffs]))
            worst = int(max(d.max() for d in diffs))
        warp = f"{med['warp']:8.3f}" if "warp" in med else f"{'':8}"
        ratio = f"{med['warp'] / med['old']:8.2f}" if "warp" in med else f"{'':8}"
        diff = f"  {differ:6.1%}, {worst}" if "warp" in med else ""
        print(
            f"{case.name:34}{med['old']:8.3f}{med['new']:8.3f}{warp}  {med['new'] / med['old']:6.2f}  {ratio}{diff}"
            + ("" if same else "   NEW DIFFERS FROM OLD")
        )
    print(f"# load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
