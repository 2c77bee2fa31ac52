#!/usr/bin/env python3
"""Per-frame work beyond invoke, stage by stage, on real walking-crowd frames (mean ms a frame).

    python scripts/bench_stages.py [--shared ../shared] [--frames 100] [--rounds 5] [--baseline DIR]

Each model's outputs are recorded once with the real engine (MoveNet through its crop region),
then replayed: the stages (preprocess, decode, tracking with One Euro, ``to_document``, JSON)
run exactly as the pipeline runs them, with invoke costing nothing. ``--baseline DIR`` names
another checkout's root (``git archive <commit> edgepose | tar -x -C DIR``): every round then
runs the baseline and this checkout in alternating subprocesses, so both see the same machine
load, and the table gives each stage's mean for both and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "movenet": "movenet_single_pose_lightning_ptq.tflite",
    "posenet": "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite",
}
STAGES = ("preprocess", "decode", "tracking", "to_document", "json")


def read_frames(video: Path, count: int) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


class Replay:
    """An engine that hands back recorded outputs in order (and records them when given a real engine)."""

    def __init__(self, engine, recorded: list[list[np.ndarray]] | None = None) -> None:
        self.engine = engine
        self.input, self.outputs, self.accelerator = engine.input, engine.outputs, "cpu"
        self.recorded = recorded if recorded is not None else []
        self.recording = recorded is None
        self.at = 0

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self.recording:
            self.recorded.append([a.copy() for a in self.engine.invoke(tensor)])
            return self.recorded[-1]
        out = self.recorded[self.at % len(self.recorded)]
        self.at += 1
        return out


def run_stages(shared: Path, model: str, frames: int, cache: Path) -> dict[str, float]:
    """Mean ms per stage over the frames, in this interpreter's ``edgepose``."""
    import time

    from edgepose.config.sections import DecoderConfig, TrackingConfig
    from edgepose.documents.poses import Stamp, encode, to_document
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model
    from edgepose.tracking import make_tracker

    images = read_frames(shared / "videos" / "walking_crowd_720p.mp4", frames)
    loaded = read_model(shared / "models" / MODELS[model])
    engine = LiteRtEngine(loaded, threads=2)
    recorded = None
    if cache.exists():
        with np.load(cache) as data:
            n = int(data["n"])
            recorded = [[data[f"{i}_{k}"] for k in range(len(engine.outputs))] for i in range(n)]
    replay = Replay(engine, recorded)
    options = getattr(loaded, "decoder_options", {})
    sums = dict.fromkeys(STAGES, 0.0)
    people = 0
    for round_ in range(2):  # the first pass warms up (and records when there is no cache)
        replay.at = 0
        estimator = PoseEstimator(replay, DecoderConfig(), model, model_options=options)
        tracking = make_tracker(TrackingConfig())
        stamp = Stamp("bench", model, "cpu")
        clock = time.perf_counter
        for i, image in enumerate(images):
            frame = Frame(image, i, 1.7e9 + i / 25, 100.0 + i / 25)
            result = estimator.estimate(frame, continuous=True)
            t0 = clock()
            result = tracking(result)
            t1 = clock()
            document = to_document(result, stamp)
            t2 = clock()
            encode(document)
            t3 = clock()
            if round_:
                sums["preprocess"] += result.timing.preprocess
                sums["decode"] += result.timing.decode
                sums["tracking"] += (t1 - t0) * 1e3
                sums["to_document"] += (t2 - t1) * 1e3
                sums["json"] += (t3 - t2) * 1e3
                people += len(result.poses)
        if replay.recording:
            arrays = {f"{i}_{k}": a for i, outs in enumerate(replay.recorded) for k, a in enumerate(outs)}
            np.savez(cache, n=len(replay.recorded), **arrays)
            replay.recording = False
    means = {k: v / len(images) for k, v in sums.items()}
    means["total"] = sum(means.values())
    means["people"] = people / len(images)
    return means


def one_round(root: Path, args: argparse.Namespace, model: str) -> dict[str, float]:
    """One measurement in a fresh interpreter importing ``edgepose`` from ``root``."""
    cache = Path(args.cache) / f"{model}_{args.frames}.npz"
    call = f"b.run_stages(Path({str(args.shared)!r}), {model!r}, {args.frames}, Path({str(cache)!r}))"
    code = (
        f"import sys, json; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(ROOT / 'scripts')!r}); "
        f"import bench_stages as b; from pathlib import Path; print(json.dumps({call}))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default="movenet,posenet")
    parser.add_argument("--baseline", type=Path, help="another checkout's root, measured in alternating rounds")
    parser.add_argument("--cache", default="/tmp/edgepose-bench-stages", help="where recorded outputs are kept")
    args = parser.parse_args()
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    roots = {"new": ROOT} if args.baseline is None else {"old": args.baseline.resolve(), "new": ROOT}
    for model in args.models.split(","):
        one_round(ROOT, args, model)  # records the outputs once, before any timed round
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
        for _ in range(args.rounds):
            for name, root in roots.items():  # alternating: old, new, old, new ...
                runs[name].append(one_round(root, args, model))
        people = np.mean([r["people"] for r in runs["new"]])
        print(
            f"# {model}, {args.frames} walking-crowd frames, {people:.1f} people a frame, "
            f"{args.rounds} alternating rounds, mean ms a frame (median over rounds)"
        )
        header = f"{'stage':12}" + "".join(f"{name:>9}" for name in roots) + ("    new/old" if len(roots) > 1 else "")
        print(header)
        for stage in (*STAGES, "total"):
            med = {name: float(np.median([r[stage] for r in rs])) for name, rs in runs.items()}
            row = f"{stage:12}" + "".join(f"{med[name]:9.3f}" for name in roots)
            if len(roots) > 1:
                row += f"    {med['new'] / med['old']:7.2f}"
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
