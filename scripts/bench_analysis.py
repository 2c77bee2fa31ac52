#!/usr/bin/env python3
"""What the analysis stage costs a frame: angles and zones for a crowd (mean and p95 ms a frame).

    python scripts/bench_analysis.py [--people 10] [--zones 5] [--frames 2000] [--rounds 5]

The people walk across a 1280x720 frame with track ids (a real tracker's output would cost the
stage the same: it reads arrays and ids), in and out of the zones, so enter/leave/count events
happen along the way. Each round runs the stage's variants (angles only, zones only, both; the
angles with the NumPy form and with the compiled kernel that ``make_analysis`` picks under
``decoder.kernel: auto``) interleaved, so all see the same machine load; the table gives the
median over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from edgepose.analysis.stage import AnalysisStage, AngleAnalyzer, ZoneAnalyzer
from edgepose.analysis.zones import Zone
from edgepose.kernels.behaviour import load_behaviour_kernels, warmup
from edgepose.pose import FrameResult, Pose

W, H = 1280, 720


def crowd(people: int, frames: int, seed: int = 0) -> list[FrameResult]:
    """Frames of ``people`` walking left and right at random heights, keypoints jittered around a skeleton."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 30, (17, 2)) + np.linspace((0, -160), (0, 0), 17)  # a rough upright body
    start = rng.uniform(0, W, people)
    speed = rng.uniform(-8, 8, people)
    ground = rng.uniform(300, 700, people)
    out = []
    for n in range(frames):
        poses = []
        for p in range(people):
            x = (start[p] + speed[p] * n) % W
            kp = np.empty((17, 3), np.float32)
            kp[:, :2] = offsets + np.array([x, ground[p]]) + rng.normal(0, 2, (17, 2))
            kp[:, 2] = rng.uniform(0.1, 1.0, 17)
            lo, hi = kp[:, :2].min(axis=0), kp[:, :2].max(axis=0)
            poses.append(Pose(kp, 0.8, (*lo.tolist(), *hi.tolist()), p + 1))
        out.append(FrameResult(n, 1.8e9 + n / 30, n / 30, W, H, "cam0", tuple(poses)))
    return out


def zones(count: int, seed: int = 1) -> list[Zone]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        corners = rng.integers(4, 9)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radii = rng.uniform(0.1, 0.25, corners)
        centre = rng.uniform(0.3, 0.7, 2)
        poly = np.clip(centre + np.c_[np.cos(angles), np.sin(angles)] * radii[:, None], 0, 1)
        out.append(Zone(f"zone{i}", poly, ("feet", "hips", "box_center")[i % 3], 0.3, 0.6))
    return out


def numpy_call_us() -> float:
    """One small NumPy call's cost here, in microseconds: the unit the stage's cost is made of."""
    a = np.zeros(30)
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        for _ in range(1000):
            np.add(a, 1.0)
        best = min(best, (time.perf_counter() - t0) * 1e3)
    return best


def measure(stage: AnalysisStage, frames: list[FrameResult]) -> tuple[float, float, float, int]:
    times = np.empty(len(frames))
    events = 0
    for i, result in enumerate(frames):
        t0 = time.perf_counter()
        found = stage(result)
        times[i] = time.perf_counter() - t0
        events += len(found.events)
    if stage.failures:
        raise RuntimeError(f"the stage failed on {stage.failures} frames")
    ms = times * 1e3
    return float(ms.mean()), float(np.median(ms)), float(np.percentile(ms, 95)), events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--zones", type=int, default=5)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    frames = crowd(args.people, args.frames)
    zs = zones(args.zones)
    kernels = load_behaviour_kernels("auto")
    warmup(kernels)
    fast = f" ({kernels.kind})"
    variants = {
        "angles": lambda: AnalysisStage([AngleAnalyzer()], 0.3),
        "zones": lambda: AnalysisStage([ZoneAnalyzer(zs)], 0.3),
        "angles+zones": lambda: AnalysisStage([AngleAnalyzer(), ZoneAnalyzer(zs)], 0.3),
        "angles" + fast: lambda: AnalysisStage([AngleAnalyzer()], 0.3, None, kernels.joint_angles),
        "angles+zones" + fast: lambda: AnalysisStage(
            [AngleAnalyzer(), ZoneAnalyzer(zs)], 0.3, None, kernels.joint_angles
        ),
    }
    results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, build in variants.items():
            results[name].append(measure(build(), frames))
    print(f"{args.people} people, {args.zones} zones, {args.frames} frames x {args.rounds} rounds (median of rounds)")
    print(f"{'stage':<22} {'mean ms':>8} {'median':>8} {'p95 ms':>8} {'events':>7}")
    for name, rows in results.items():
        mean, median, p95 = (statistics.median(r[k] for r in rows) for k in range(3))
        print(f"{name:<22} {mean:8.3f} {median:8.3f} {p95:8.3f} {rows[0][3]:7d}")
    print(f"one small NumPy call here: {numpy_call_us():.2f} us (about 1 us on an idle x86 core)")


if __name__ == "__main__":
    main()
