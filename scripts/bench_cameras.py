#!/usr/bin/env python3
"""Several cameras on one engine: fps per camera and in total against the engine's bare rate.

    python scripts/bench_cameras.py                          # 1, 2 and 4 cameras, MoveNet, sleep:7ms
    python scripts/bench_cameras.py --models movenet_lightning_int8,posenet_mobilenet_v1_075_481x641 \
        --cameras 1,2,4 --seconds 12 --rounds 6              # (one line) the table in docs/cameras.md

Each camera is a memory source of the same pre-decoded walking-crowd frames, a lane of the
daemon's own several-camera pipeline (:class:`~edgepose.pipeline.runner.Pipeline` with several lanes): its own
capture thread and slot in the :class:`~edgepose.pipeline.scheduling.CameraScheduler`, its own estimator
(crop region, input buffers), tracker and figures. One inference thread takes frames by
round-robin onto one stand-in engine (``sleep:7ms``: invoke sleeps 7 ms with the GIL released and
replays the real model's outputs) under one supervisor, on the overlapped schedule: the flight
carries its camera, so the crop region stays exact per camera (frame n of a camera is decoded
before that camera's frame n+1 is cut), which costs nothing when the next frame is another
camera's. The recording repeats each frame once per camera, so with strict round-robin every
camera's decoder and tracker see the real model's sequence of poses in order.

Every round runs the bare invoke loop, today's single-camera ``Pipeline.run`` (overlapped, the
reference for one camera) and each camera count for the same time, starting with a
different one each round; figures are sums over the rounds. ``--paced`` adds a row with one
camera live at that rate beside one that is not (the slow one must get every frame). Prints one
JSON object per row, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("EDGEPOSE_MODEL_DIRS", f"{SHARED / 'models'}{os.pathsep}{SHARED / 'images'}")

from edgepose.app import build_estimator  # noqa: E402
from edgepose.config import load_config  # noqa: E402
from edgepose.config.sections import Config  # noqa: E402
from edgepose.documents.poses import Stamp  # noqa: E402
from edgepose.estimation.estimator import PoseEstimator  # noqa: E402
from edgepose.frame import Frame  # noqa: E402
from edgepose.inference.standin import Recording, SleepEngine, parse_sleep  # noqa: E402
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy  # noqa: E402
from edgepose.pipeline.lanes import Lane  # noqa: E402
from edgepose.pipeline.runner import Pipeline  # noqa: E402
from edgepose.stats import RunStats  # noqa: E402
from edgepose.tools.bench.frames import first_frames  # noqa: E402
from edgepose.tools.bench.limit import NullSink, TimedEngine, record  # noqa: E402
from edgepose.tools.bench.runner import MemorySource  # noqa: E402
from edgepose.tracking import make_tracker  # noqa: E402

PIPELINE = "1 camera, Pipeline.run (today)"


class PacedSource(MemorySource):
    """The memory frames as a live camera at ``fps`` (its slot then keeps the newest frame only)."""

    live = True

    def __init__(self, images: Sequence[np.ndarray], camera: str, fps: float) -> None:
        super().__init__(images, continuous=True, camera=camera, limit=10**9)
        self.period = 1.0 / fps
        self._due = time.monotonic()
        self._stop = threading.Event()

    def read(self) -> Frame | None:
        self._due += self.period
        if self._stop.wait(max(0.0, self._due - time.monotonic())):
            return None
        return super().read()

    def interrupt(self) -> None:
        self._stop.set()


@dataclass(frozen=True)
class Layout:
    """One row: how many cameras, and the rate of the ones that are live (0: as fast as taken)."""

    name: str
    fps: tuple[float, ...]

    @property
    def cameras(self) -> int:
        return len(self.fps)


@dataclass
class Tally:
    seconds: float = 0.0
    frames: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.frames.values())


def repeated(recording: Recording, times: int) -> Recording:
    """Each recorded invoke ``times`` times in a row: round-robin over ``times`` cameras gives each all, in order."""
    frames = tuple(f for f in recording.frames for _ in range(times))
    return Recording(recording.input, recording.outputs, frames)


@dataclass
class Bench:
    """One model: the real model's recording, and what each round builds its engine and cameras from."""

    config: Config
    model_name: str
    model_options: dict[str, float]
    recording: Recording
    latency: float
    images: list[np.ndarray]

    def engine(self, cameras: int) -> SupervisedEngine:
        """One stand-in accelerator under the real supervisor (its worker thread), shared by ``cameras``."""
        timed = TimedEngine(SleepEngine(repeated(self.recording, cameras), self.latency))
        policy = SupervisorPolicy.from_config(self.config.model)
        return SupervisedEngine(lambda: timed, "sleep", policy)

    def estimator(self, engine: SupervisedEngine) -> PoseEstimator:
        return PoseEstimator(engine, self.config.decoder, self.model_name, model_options=self.model_options)


def bare_round(bench: Bench, seconds: float, tally: Tally) -> None:
    """The engine's own invoke loop, on this thread: the limit."""
    engine = SleepEngine(bench.recording, bench.latency)
    tensor = np.zeros(engine.input.shape, engine.input.dtype)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        engine.invoke(tensor)
        n += 1
    tally.frames["bare"] = tally.frames.get("bare", 0) + n
    tally.seconds += elapsed


def pipeline_round(bench: Bench, seconds: float, tally: Tally) -> None:
    """Today's single-camera ``Pipeline.run``, overlapped, on the same engine: the reference for 1 camera."""
    engine = bench.engine(1)
    config = bench.config
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    source = MemorySource(bench.images, continuous=True, camera="cam0", limit=10**9)
    stamp = Stamp(config.device_id, bench.model_name, "sleep")
    lane = Lane("cam0", source, bench.estimator(engine), tracking=tracking)
    pipe = Pipeline([lane], [NullSink()], stamp, overlap=True)
    t0 = time.perf_counter()
    try:
        stats = pipe.run(duration=seconds)
    finally:
        engine.close()
    tally.seconds += time.perf_counter() - t0
    tally.frames["cam0"] = tally.frames.get("cam0", 0) + stats.processed


def cameras_round(bench: Bench, layout: Layout, seconds: float, tally: Tally) -> None:
    """``layout``'s cameras in the daemon's own several-camera pipeline on one engine for ``seconds``."""
    engine = bench.engine(layout.cameras)
    config = bench.config
    stamp = Stamp(config.device_id, bench.model_name, "sleep")
    stats = RunStats()
    template = bench.estimator(engine)
    lanes = []
    for k, fps in enumerate(layout.fps):
        name = f"cam{k}"
        source = (
            PacedSource(bench.images, name, fps)
            if fps
            else MemorySource(bench.images, continuous=True, camera=name, limit=10**9)
        )
        tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
        lanes.append(Lane(name, source, template.sibling(config.decoder), stats.camera(name), tracking))
    pipe = Pipeline(lanes, [NullSink()], stamp, stats, overlap=True)
    t0 = time.perf_counter()
    try:
        pipe.run(duration=seconds)
    finally:
        elapsed = time.perf_counter() - t0
        engine.close()
    tally.seconds += elapsed
    for name, camera in stats.cameras.items():
        tally.frames[name] = tally.frames.get(name, 0) + camera.processed
        tally.skipped[name] = tally.skipped.get(name, 0) + camera.skipped


def run(bench: Bench, layouts: Sequence[Layout], seconds: float, rounds: int) -> tuple[Tally, dict[str, Tally]]:
    bare = Tally()
    tallies = {layout.name: Tally() for layout in layouts}
    bare_round(bench, 0.3, Tally())  # first-call costs stay out of the figures
    cameras_round(bench, layouts[0], 0.5, Tally())
    plan = ["bare", PIPELINE, *(layout.name for layout in layouts)]
    tallies[PIPELINE] = Tally()
    by_name = {layout.name: layout for layout in layouts}
    for r in range(rounds):
        k = r % len(plan)
        for name in (*plan[k:], *plan[:k]):
            if name == "bare":
                bare_round(bench, seconds / rounds, bare)
            elif name == PIPELINE:
                pipeline_round(bench, seconds / rounds, tallies[name])
            else:
                cameras_round(bench, by_name[name], seconds / rounds, tallies[name])
    return bare, tallies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="movenet_lightning_int8", help="model names, A,B")
    parser.add_argument("--engine", default="sleep:7ms", help="the stand-in accelerator, sleep:<latency>")
    parser.add_argument("--cameras", default="1,2,4", help="camera counts, A,B")
    parser.add_argument("--paced", type=float, default=15.0, help="fps of the live camera in the mixed row; 0: none")
    parser.add_argument("--video", type=Path, default=SHARED / "videos" / "walking_crowd_720p.mp4")
    parser.add_argument("--frames", type=int, default=100, help="frames decoded into memory")
    parser.add_argument("--seconds", type=float, default=12.0, help="each row's total time over all rounds")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    images = first_frames(args.video, args.frames)
    layouts = [Layout(f"{n} camera{'s' if n > 1 else ''}", (0.0,) * n) for n in map(int, args.cameras.split(","))]
    if args.paced:
        layouts.append(Layout(f"2 cameras, cam0 live at {args.paced:g} fps", (args.paced, 0.0)))
    rows = []
    for model in args.models.split(","):
        config = load_config(None, [f"model.name='{model}'"])
        loaded = build_estimator(config)
        bench = Bench(
            config,
            loaded.model_name,
            dict(loaded.estimator.model_options),
            record(loaded, config, images),
            parse_sleep(args.engine),
            images,
        )
        loaded.estimator.engine.close()
        bare, tallies = run(bench, layouts, args.seconds, args.rounds)
        bare_fps = bare.total / bare.seconds
        for name in (PIPELINE, *(layout.name for layout in layouts)):
            t = tallies[name]
            per_camera = {name: round(n / t.seconds, 1) for name, n in sorted(t.frames.items())}
            total = t.total / t.seconds
            row = {
                "model": loaded.model_name,
                "engine": args.engine,
                "layout": name,
                "bare_fps": round(bare_fps, 1),
                "total_fps": round(total, 1),
                "ratio": round(total / bare_fps, 3),
                "fps_per_camera": per_camera,
                "skipped": dict(sorted(t.skipped.items())),
                "seconds": round(t.seconds, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| model | cameras | fps per camera | total fps | bare fps | total / bare | skipped |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        per = ", ".join(f"{v:.1f}" for v in row["fps_per_camera"].values())
        skipped = ", ".join(str(v) for v in row["skipped"].values())
        print(
            f"| {row['model']} | {row['layout']} | {per} | {row['total_fps']:.1f} | {row['bare_fps']:.1f} | "
            f"{row['ratio']:.3f} | {skipped} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
