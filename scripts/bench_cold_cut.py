#!/usr/bin/env python3
"""How long a cut takes right after the thread has waited, against a tight loop.

The exact crop puts one cut between two invokes, right after the thread waited for the first.
On the development VM that cut runs several times slower than in a tight loop; this times it
after each kind of wait so a board can be compared (the cuts are the pipeline's own calls:
MoveNet's crop resized into its input, BlazePose's rotated 256 px square):

    python scripts/bench_cold_cut.py [--video walking_crowd_720p.mp4] [--calls 200]

Prints one line per cut and wait: the median ms of the cut alone.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgepose.decode.blazepose.region import RotatedRect, warp
from edgepose.estimation.preprocess import Region, cut
from edgepose.tools.bench.frames import first_frames

ROOT = Path(__file__).resolve().parents[1]


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def waits(region: np.ndarray) -> dict[str, Callable[[], None]]:
    """What runs before each cut: nothing, sleeps, a busy loop, and reading the cut's source first."""
    return {
        "tight loop": lambda: None,
        "sleep 0.2 ms": lambda: time.sleep(0.0002),
        "sleep 1 ms": lambda: time.sleep(0.001),
        "sleep 7 ms": lambda: time.sleep(0.007),
        "busy 7 ms": lambda: spin(0.007),
        "sleep 7 ms, read source": lambda: (time.sleep(0.007), region.sum()),
    }


def median_ms(before: Callable[[], None], call: Callable[[], object], calls: int) -> float:
    """Median of ``call``, each made right after ``before``, over ``calls`` rounds."""
    times = []
    for _ in range(calls):
        before()
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=ROOT.parent / "shared" / "videos" / "walking_crowd_720p.mp4")
    p.add_argument("--calls", type=int, default=200)
    args = p.parse_args(argv)
    image = first_frames(args.video, 1)[0]
    h, w = image.shape[:2]
    side = min(h, w) * 0.7
    crop = np.zeros((192, 192, 3), np.uint8)
    square = np.zeros((256, 256, 3), np.uint8)
    rect = RotatedRect(w / 2, h / 2, side, side, 0.1)
    region = Region(w / 2 - side / 2, h / 2 - side / 2, side, side)
    source = image[int(region.y) : int(region.y + side), int(region.x) : int(region.x + side)]
    cuts = {
        "MoveNet crop 192": lambda: cut(image, region, 192, 192, crop),
        "BlazePose square 256": lambda: warp(image, rect, 256, 256, "replicate", square),
    }
    print(f"{args.video.name} {w}x{h}, {args.calls} calls each; medians in ms")
    for name, call in cuts.items():
        for wait, before in waits(source).items():
            print(f"{name:22s} after {wait:24s} {median_ms(before, call, args.calls):6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
