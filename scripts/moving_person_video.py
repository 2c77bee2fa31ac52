"""A video of one person moving across a grey canvas, made from a still image of them.

Single-person models (BlazePose, MoveNet SinglePose) need one person close to the camera; the
walking-crowd video has many small ones, where BlazePose's detector finds nobody and the
benchmark would time its detector instead of its pipeline. This composes such a video from a
photo (the shared ``squat.bmp``), so the limit run can be reproduced without a camera:

    python scripts/moving_person_video.py --image squat.bmp --out person.avi
    python scripts/bench_pipeline.py --video person.avi --engine real --models blazepose_lite --no-latency
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def positions(frames: int, span: int) -> list[int]:
    """Left edge of the person in each frame: across the canvas and back, a pixel step at a time."""
    step = max(1, 2 * span // max(frames, 1))
    there = list(range(0, span + 1, step))
    path = there + there[::-1]
    return [path[i % len(path)] for i in range(frames)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=Path, required=True, help="a photo of one person")
    p.add_argument("--out", type=Path, required=True, help="the video to write (.avi, MJPG)")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the canvas")
    p.add_argument("--height", type=float, default=0.8, help="the person's height as a share of the canvas")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    image = cv2.imread(str(args.image))
    if image is None:
        p.error(f"cannot read {args.image}")
    scale = args.height * height / image.shape[0]
    person = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if person.shape[1] > width:
        p.error("the person is wider than the canvas: lower --height")
    top = (height - person.shape[0]) // 2
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
    for x in positions(args.frames, width - person.shape[1]):
        canvas = np.full((height, width, 3), 90, np.uint8)
        canvas[top : top + person.shape[0], x : x + person.shape[1]] = person
        writer.write(canvas)
    writer.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
