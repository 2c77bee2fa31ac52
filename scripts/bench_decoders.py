#!/usr/bin/env python3
"""Time every decoder on the real PoseNet outputs of the golden image, Numba and NumPy side by side.

    python scripts/bench_decoders.py [--shared ../shared] [--calls 1000]

Prints p50/p95 milliseconds per decode call (dequantize, kernel, mapping to source pixels).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from edgepose.decode.benchmark import bench_decoders, derived_cases, format_table, posenet_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--calls", type=int, default=1000, help="timed calls per Numba case (NumPy: a tenth)")
    parser.add_argument("--max-poses", type=int, default=10)
    args = parser.parse_args()
    model = args.shared / "models" / "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
    image = args.shared / "images" / "posenet_test_image.bmp"
    posenet = posenet_case(model, image, args.max_poses)
    results = bench_decoders([posenet, *derived_cases(posenet)], calls=args.calls)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
