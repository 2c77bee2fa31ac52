#!/usr/bin/env python3
"""Time BlazePose's heatmap refinement and whole landmark decode on one invoke's real outputs.

    python scripts/bench_blazepose_refine.py [--shared ../shared] [--calls 2000] [--crop 0,110,500]

The landmark model reads a square of the image (``--crop x,y,side``, resized to its input, scaled
to [0, 1]). ``refine_with_heatmap`` and ``decode_outputs`` are timed against the plain refinement
pinned in tests/test_blazepose_refine.py, all four interleaved call by call so that a busy machine
slows them alike (the plain decode is ``decode_outputs`` with the plain refinement swapped in
outside the timed call). Prints the median and p95 microseconds per call.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from edgepose.decode.blazepose import outputs as blazepose_outputs  # noqa: E402
from edgepose.decode.blazepose.landmarks import HEATMAP_KERNEL, decode_landmarks, refine_with_heatmap  # noqa: E402
from edgepose.decode.blazepose.region import RotatedRect, warp  # noqa: E402
from edgepose.inference.engine import LiteRtEngine  # noqa: E402
from edgepose.inference.modelfile import read_model  # noqa: E402
from edgepose.sources.files import read_image  # noqa: E402


def plain_refine() -> Callable[..., np.ndarray]:
    """The reference refinement of the tests (not a package module, so loaded by path)."""
    spec = importlib.util.spec_from_file_location("refine_reference", ROOT / "tests" / "test_blazepose_refine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_refine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--model", default="pose_landmark_full")
    parser.add_argument("--image", default="squat.bmp")
    parser.add_argument("--crop", default="0,110,500", help="x,y,side of the square read, in image pixels")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    x0, y0, side = (float(v) for v in args.crop.split(","))
    engine = LiteRtEngine(read_model(args.shared / "models" / f"{args.model}.tflite"), 1)
    _, in_h, in_w, _ = engine.input.shape
    rect = RotatedRect(x0 + side / 2, y0 + side / 2, side, side)
    crop = warp(read_image(args.shared / "images" / args.image), rect, in_w, in_h, "zero")
    outputs = engine.invoke((crop.astype(np.float32) / np.float32(255.0))[None])
    layout = blazepose_outputs.landmark_layout(engine.outputs, engine.input)
    if layout is None or layout.heatmap is None:
        print(f"{args.model} is not a BlazePose landmark model with a heatmap", file=sys.stderr)
        return 1
    xy = decode_landmarks(outputs[layout.landmarks], in_w, in_h)[:, :2]
    heatmap = outputs[layout.heatmap]
    hm_h, hm_w = heatmap.shape[1:3]
    cell = np.trunc(xy * np.float32([hm_w, hm_h]))
    on_map = ((cell >= 0) & (cell < [hm_w, hm_h])).all(axis=1)
    half = (HEATMAP_KERNEL - 1) // 2
    whole = ((cell >= half) & (cell < [hm_w - half, hm_h - half])).all(axis=1)
    refined = (refine_with_heatmap(xy, heatmap) != xy).any(axis=1)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}")
    print(f"# {args.model} on {args.image} square {args.crop}: heatmap {heatmap.shape}, {len(xy)} landmarks,")
    print(f"# {on_map.sum()} on the map, {whole.sum()} with their whole window on it, {refined.sum()} refined")

    plain = plain_refine()
    decode = blazepose_outputs.decode_outputs
    cases = {  # name: (call, the refinement decode_outputs calls)
        "refine_with_heatmap": (lambda: refine_with_heatmap(xy, heatmap), refine_with_heatmap),
        "refine_with_heatmap (plain)": (lambda: plain(xy, heatmap), refine_with_heatmap),
        "decode_outputs": (lambda: decode(outputs, layout, rect, in_w, in_h), refine_with_heatmap),
        "decode_outputs (plain refine)": (lambda: decode(outputs, layout, rect, in_w, in_h), plain),
    }
    if not np.array_equal(refine_with_heatmap(xy, heatmap), plain(xy, heatmap)):
        print("the refinement differs from the plain one", file=sys.stderr)
        return 1
    times = {name: np.empty(args.calls) for name in cases}
    try:
        for i in range(-1, args.calls):  # -1: a warm-up round, not kept
            for name, (fn, refine) in cases.items():
                blazepose_outputs.refine_with_heatmap = refine  # swapped outside the timed call
                t0 = time.perf_counter()
                fn()
                times[name][i] = time.perf_counter() - t0
    finally:
        blazepose_outputs.refine_with_heatmap = refine_with_heatmap
    print(f"{'call':32s} {'median us':>10s} {'p95 us':>8s}  ({args.calls} calls each, interleaved)")
    for name, t in times.items():
        print(f"{name:32s} {np.median(t) * 1e6:10.1f} {np.percentile(t, 95) * 1e6:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
