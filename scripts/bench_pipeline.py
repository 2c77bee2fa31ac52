#!/usr/bin/env python3
"""Pipeline benchmark: throughput against the bare interpreter, latency, and a long-run memory soak.

    python scripts/bench_pipeline.py                 # throughput + latency (MoveNet CPU, 2 threads)
    python scripts/bench_pipeline.py --engine sleep:7ms,real --threads 1,2 --no-latency
        --models movenet_lightning_int8,posenet_mobilenet_v1_075_481x641   # (one line) issue 14's table
    python scripts/bench_pipeline.py --soak 600      # 10 min on the looping video, paced at 25 fps
    python scripts/bench_pipeline.py --no-latency --threads 1,2 --peer DIR   # with the TF example's loop

Throughput: frames are decoded into memory first, so the figure is the pipeline's own cost
(preprocess, invoke, decode, tracking, encoding, sink) against the engine's bare invoke loop on
the same input, serially and overlapped (``edgepose.tools.bench.limit``), every configuration and
variant interleaved in each round. ``--engine sleep:7ms``: a stand-in whose invoke sleeps 7 ms
(GIL released) and replays the real model's outputs on the same frames; ``real``: the model on
the CPU at each ``--threads``. Prints one JSON object per configuration and the stage table.
Latency: the same frames offered as a live camera
at ``--fps``; capture-to-publish p50/p99 from the pipeline's stats. Soak: RSS sampled every
``--sample`` seconds; the result compares the last and the largest sample with the one at 60 s.
Prints one JSON object per phase.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("EDGEPOSE_MODEL_DIRS", f"{SHARED / 'models'}{os.pathsep}{SHARED / 'images'}")

from edgepose.app import build_estimator  # noqa: E402
from edgepose.config import load_config  # noqa: E402
from edgepose.documents.poses import Stamp  # noqa: E402
from edgepose.estimation.preprocess import cut, full_region, to_input_dtype  # noqa: E402
from edgepose.frame import Frame  # noqa: E402
from edgepose.pipeline.lanes import Lane  # noqa: E402
from edgepose.pipeline.runner import Pipeline, overlap_for  # noqa: E402
from edgepose.sources.base import Source  # noqa: E402
from edgepose.sources.video import VideoFileSource  # noqa: E402
from edgepose.stats import RunStats  # noqa: E402
from edgepose.tools.bench import limit  # noqa: E402
from edgepose.tools.bench.frames import first_frames  # noqa: E402
from edgepose.tracking import make_tracker  # noqa: E402


class MemorySource(Source):
    """Pre-decoded frames, in a loop. ``fps`` 0: as fast as taken (back-pressure); else a paced live camera."""

    continuous = True

    def __init__(self, images: list[np.ndarray], fps: float = 0.0) -> None:
        self.images = images
        self.fps = fps
        self.live = fps > 0
        self.name = "cam0"
        self._n = 0
        self._next = time.monotonic()

    def open(self) -> None:
        self._next = time.monotonic()

    def read(self) -> Frame:
        if self.fps:
            self._next += 1.0 / self.fps
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        image = self.images[self._n % len(self.images)]
        frame = Frame(image, self._n, time.time(), time.monotonic(), self.name)
        self._n += 1
        return frame

    def close(self) -> None:
        pass


def rss_mb() -> float:
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def prepared_tensor(estimator: Any, image: np.ndarray) -> np.ndarray:
    region = full_region(image.shape[1], image.shape[0], estimator.in_w, estimator.in_h)
    spec = estimator.engine.input
    rgb = cut(image, region, estimator.in_w, estimator.in_h)
    return to_input_dtype(rgb, spec.dtype, spec.scale, spec.zero_point)


def invoke_count(estimator: Any, tensor: np.ndarray, seconds: float) -> tuple[int, float]:
    """Invokes of the interpreter alone on one prepared tensor for ``seconds``: (count, elapsed)."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        estimator.engine.invoke(tensor)
        n += 1
    return n, time.perf_counter() - t0


def make_pipeline(config: Any, loaded: Any, source: Any, stats: RunStats) -> tuple[Pipeline, limit.NullSink]:
    sink = limit.NullSink()
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    stamp = Stamp("bench", loaded.model_name, loaded.accelerator)
    overlap = overlap_for(config.model.overlap, loaded.accelerator)
    lane = Lane("cam0", source, loaded.estimator, tracking=tracking)
    return Pipeline([lane], [sink], stamp, stats, overlap=overlap), sink


def throughput(args: argparse.Namespace) -> None:
    """Every model x engine (x threads for the real engine) against its bare loop, interleaved."""
    images = first_frames(args.video, args.frames)
    threads = [int(t) for t in args.threads.split(",")]
    summaries = limit.run_limit(
        load_config(None, []),
        args.models.split(","),
        args.engine.split(","),
        threads,
        images,
        args.seconds,
        args.rounds,
        build_estimator,
        args.peer,
    )
    for summary in summaries:
        print(json.dumps({"phase": "throughput", **summary}), flush=True)
    sys.stdout.write(limit.markdown(summaries))


def latency(config: Any, args: argparse.Namespace) -> None:
    loaded = build_estimator(config)
    images = first_frames(args.video, args.frames)
    stats = RunStats()
    pipeline, _ = make_pipeline(config, loaded, MemorySource(images, fps=args.fps), stats)
    pipeline.run(duration=args.seconds)
    snap = stats.snapshot(time.monotonic())
    print(
        json.dumps(
            {
                "phase": "latency",
                "overlap": args.overlap,
                "camera_fps": args.fps,
                "processed_fps": snap["processed_fps"],
                "captured": stats.captured,
                "processed": stats.processed,
                "skipped": stats.skipped,
                "latency_ms_p50": round(snap["latency_ms_p50"] or 0, 2),
                "latency_ms_p99": round(snap["latency_ms_p99"] or 0, 2),
                "inference_ms_p50": round(snap["inference_ms_p50"] or 0, 2),
            }
        ),
        flush=True,
    )


def soak(config: Any, args: argparse.Namespace) -> None:
    loaded = build_estimator(config)
    source = VideoFileSource(args.video, loop=True, realtime=True)
    source.open()
    stats = RunStats()
    pipeline, sink = make_pipeline(config, loaded, source, stats)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(args.sample):
            samples.append((time.monotonic() - t0, rss_mb()))
            snap = stats.snapshot(time.monotonic())
            print(
                json.dumps(
                    {
                        "t_s": round(samples[-1][0]),
                        "rss_mb": round(samples[-1][1], 1),
                        "processed": snap["processed"],
                        "skipped": snap["skipped"],
                        "latency_ms_p50": snap["latency_ms_p50"],
                    }
                ),
                flush=True,
            )

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        pipeline.run(duration=args.soak)
    finally:
        done.set()
        sampler.join()
        source.close()
    after_minute = next((rss for t, rss in samples if t >= 60), samples[0][1] if samples else rss_mb())
    final, peak = samples[-1][1], max(rss for _, rss in samples)
    snap = stats.snapshot(time.monotonic())
    print(
        json.dumps(
            {
                "phase": "soak",
                "overlap": args.overlap,
                "seconds": args.soak,
                "rss_mb_at_60s": round(after_minute, 1),
                "rss_mb_final": round(final, 1),
                "rss_mb_peak": round(peak, 1),
                "final_vs_60s_pct": round(100 * (final / after_minute - 1), 2),
                "peak_vs_60s_pct": round(100 * (peak / after_minute - 1), 2),
                "within_5pct": peak <= after_minute * 1.05,
                "captured": stats.captured,
                "processed": stats.processed,
                "skipped": stats.skipped,
                "failed": stats.failed,
                "published": sink.count,
                "latency_ms_p50": snap["latency_ms_p50"],
                "latency_ms_p99": snap["latency_ms_p99"],
            }
        ),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="movenet_lightning_int8", help="model names or paths (CPU), A,B")
    parser.add_argument("--engine", default="real", help="real and/or sleep:<latency> (e.g. sleep:7ms), A,B")
    parser.add_argument("--threads", default="2", help="interpreter threads of the real engine, 1,2")
    parser.add_argument("--video", type=Path, default=SHARED / "videos" / "walking_crowd_720p.mp4")
    parser.add_argument("--frames", type=int, default=100, help="frames decoded into memory")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each variant's measurement")
    parser.add_argument(
        "--peer",
        type=Path,
        metavar="DIR",
        help="a copy of the TF Raspberry Pi example's movenet.py and data.py: its loop as a peer",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the live-camera latency phase")
    parser.add_argument("--rounds", type=int, default=20, help="alternations of invoke-only and pipeline runs")
    parser.add_argument("--fps", type=float, default=30.0, help="camera rate of the latency phase")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="run the long memory test instead")
    parser.add_argument("--sample", type=float, default=10.0, help="soak: seconds between RSS samples")
    parser.add_argument(
        "--overlap",
        choices=("auto", "on", "off"),
        default="auto",
        help="latency and soak: the schedule (model.overlap); auto is serial on the CPU",
    )
    args = parser.parse_args()
    first = [
        f"model.name='{args.models.split(',')[0]}'",
        f"model.threads={args.threads.split(',')[0]}",
        f"model.overlap='{args.overlap}'",
    ]
    if args.soak:
        soak(load_config(None, first), args)
        return 0
    throughput(args)
    if not args.no_latency:
        latency(load_config(None, first), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
