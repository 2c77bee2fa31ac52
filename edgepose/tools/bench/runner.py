"""Running a benchmark: each configuration through the project's own estimator and pipeline.

Per configuration (model x accelerator x threads): load through :func:`edgepose.app.build_estimator`,
time the interpreter alone, then run :class:`~edgepose.pipeline.runner.Pipeline` on pre-decoded frames and
on the real source, with the configured sinks (stdout goes to the null device so the table stays
readable). A configuration that cannot load (no decoder for its outputs, no Edge TPU, missing
file) becomes a row with ``status: unavailable`` and the reason.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from edgepose import __version__, system
from edgepose.app import build_estimator, build_source, meta_document, resolve_source_uri
from edgepose.config import redacted
from edgepose.config.sections import Config
from edgepose.documents.poses import Stamp
from edgepose.errors import EdgeposeError, FrameError, InputError, UnavailableError
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.logs import counted
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Pipeline
from edgepose.pose import FrameResult
from edgepose.redact import redact_text
from edgepose.sinks import Sink, make_sink
from edgepose.sources.base import Clocks, Source
from edgepose.stats import RunStats
from edgepose.tools.bench.figures import Latency, Plan, Report, Row, RunFigures
from edgepose.tracking import make_tracker

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
RSS_EVERY = 8  # sample the resident size every N frames (reading /proc costs ~50 µs)


def stderr_progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class MemorySource(Source):
    """Frames decoded beforehand, handed out in a cycle and stamped with the clock when read.

    Not live: the pipeline takes every frame (back-pressure), as from a file. Stops after
    ``limit`` reads so a pipeline whose frames all fail cannot loop for ever.
    """

    name = "memory"
    live = False

    def __init__(
        self,
        images: Sequence[np.ndarray],
        continuous: bool,
        camera: str = "cam0",
        limit: int = 1_000_000,
        clocks: Clocks | None = None,
    ) -> None:
        if not images:
            raise InputError("no frames to benchmark with")
        self.images = list(images)
        self.continuous = continuous
        self.camera = camera
        self.limit = limit
        self.clocks = clocks or Clocks()
        self._count = 0

    def open(self) -> None:
        self._count = 0

    def read(self) -> Frame | None:
        if self._count >= self.limit:
            return None
        image = self.images[self._count % len(self.images)]
        frame = Frame(image, self._count, self.clocks.wall(), self.clocks.mono(), self.camera)
        self._count += 1
        return frame

    def close(self) -> None:
        pass


class _Collector:
    """The pipeline hook of one run: every frame's stage timings, output time and latency."""

    def __init__(self, clock: Callable[[], float], rss: Callable[[], int | None], live: bool) -> None:
        self.clock = clock
        self.live = live
        self.rss = rss
        self.start = clock()
        self._prev = self.start
        self.periods: list[float] = []
        self.preprocess: list[float] = []
        self.invoke: list[float] = []
        self.decode: list[float] = []
        self.latency: list[float] = []
        self.rss_samples: list[int] = []

    def __call__(self, frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        now = self.clock()
        self.periods.append((now - self._prev) * 1e3)
        self._prev = now
        t = result.timing
        self.preprocess.append(t.preprocess)
        self.invoke.append(t.inference)
        self.decode.append(t.decode)
        if self.live:  # only a live source's stamp is a capture moment (files carry media time)
            self.latency.append((now - frame.mono) * 1e3)
        if len(self.periods) % RSS_EVERY == 1:
            value = self.rss()
            if value is not None:
                self.rss_samples.append(value)


def predecode(config: Config, count: int) -> tuple[list[np.ndarray], bool]:
    """Up to ``count`` frames of the configured source, decoded into memory; and whether it is video-like."""
    source = build_source(config)
    images: list[np.ndarray] = []
    failed = 0
    try:
        while len(images) < count and failed <= count:
            try:
                frame = source.read()
            except FrameError as exc:
                failed += 1
                log.warning("pre-decoding: skipped a frame: %s", exc)
                continue
            if frame is None:
                break
            images.append(frame.image)
    finally:
        source.close()
    if not images:
        raise InputError(f"the source {config.source.uri} gave no frames to benchmark with")
    if failed:
        log.warning("pre-decoding: %s failed and skipped", counted(failed, "frame"))
    return images, source.continuous


def configuration(config: Config, model: str, accelerator: str, threads: int) -> Config:
    """The config for one benchmark row. An Edge TPU row never falls back silently to the CPU."""
    fallback = "none" if accelerator == "edgetpu" else config.model.fallback
    m = dataclasses.replace(config.model, name=model, accelerator=accelerator, threads=threads, fallback=fallback)
    return dataclasses.replace(config, model=m)


def bench_sinks(config: Config, specs: Sequence[str]) -> tuple[str, ...]:
    """The sinks a benchmark publishes to: as given, else the configured ones with stdout sent to the null device."""
    if specs:
        return tuple(specs)
    return tuple(f"jsonl:{os.devnull}" if s == "stdout" else s for s in config.sinks)


def time_invokes(
    loaded: Loaded, image: np.ndarray, warmup: int, frames: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Invoke latency (ms) of the interpreter alone on one preprocessed input, after ``warmup`` invokes.

    The input is the estimator's own for the whole image (its layout, padding and value range; a
    two-stage model's landmark input cut where its detector found the person).
    """
    engine = loaded.estimator.engine
    prepared = loaded.estimator.prepare(Frame(image, 0, 0.0, 0.0, "cam0"), continuous=False)
    tensor = np.array(prepared.tensor, copy=True)
    for _ in range(warmup):
        engine.invoke(tensor)
    samples = []
    for _ in range(frames):
        t0 = clock()
        engine.invoke(tensor)
        samples.append((clock() - t0) * 1e3)
    return samples


def make_tracking(config: Config) -> Any:
    """The tracking stage the config asks for (None for ``tracking.tracker: none``)."""
    return make_tracker(config.tracking, config.decoder.min_keypoint_score)


def run_pipeline(
    source: Any,
    loaded: Loaded,
    config: Config,
    sinks: Sequence[Sink],
    frames: int,
    clock: Callable[[], float] = time.monotonic,
    rss: Callable[[], int | None] = system.rss_bytes,
) -> tuple[RunFigures, list[int]]:
    """``frames`` frames through a fresh :class:`Pipeline`; its figures and the RSS samples taken.

    Stage times come from each frame's ``Timing`` (every frame); tracking and publishing from the
    pipeline's own windows in :class:`RunStats` (percentiles of the last 512 frames).
    """
    loaded.estimator.reset()
    stats = RunStats()
    stamp = Stamp(config.device_id, loaded.model_name, loaded.accelerator)
    collector = _Collector(clock, rss, source.live)
    tracking = make_tracking(config)
    lane = Lane("cam0", source, loaded.estimator, tracking=tracking)
    pipeline = Pipeline([lane], list(sinks), stamp, stats, clock, [collector])
    pipeline.run(max_frames=frames)
    elapsed = max(clock() - collector.start, 1e-9)
    processed = len(collector.periods)
    tracked = tracking is not None and source.continuous  # the pipeline tracks video only
    figures = RunFigures(
        frames=processed,
        elapsed_s=round(elapsed, 4),
        fps=round(processed / elapsed, 3),
        frame_ms=Latency.of(collector.periods),
        invoke_ms=Latency.of(collector.invoke),
        preprocess_ms=Latency.of(collector.preprocess),
        decode_ms=Latency.of(collector.decode),
        track_ms=Latency.of_window(stats.track_ms) if tracked else None,
        publish_ms=Latency.of_window(stats.publish_ms),
        latency_ms=Latency.of(collector.latency),
        captured=stats.captured,
        skipped=stats.skipped,
        failed=stats.failed,
    )
    return figures, collector.rss_samples


def bench_one(
    config: Config,
    loaded: Loaded,
    plan: Plan,
    images: Sequence[np.ndarray],
    continuous: bool,
    progress: Progress,
    temp_start: float | None = None,
) -> Row:
    """Measure one configuration (``config.model`` set for it, ``loaded`` built from it)."""
    model, accelerator, threads = config.model.name, config.model.accelerator, config.model.threads
    rss: list[int] = [system.rss_bytes() or 0]
    sinks: list[Sink] = []
    try:
        meta = meta_document(config, loaded)
        for spec in bench_sinks(config, plan.sinks):
            sink = make_sink(spec, config)
            sink.open(meta)
            sinks.append(sink)
        progress(f"{loaded.model_name} on {loaded.accelerator}, {threads} threads: invoke x{plan.frames}")
        invokes = time_invokes(loaded, images[0], plan.warmup, plan.frames)
        progress(f"{loaded.model_name} on {loaded.accelerator}, {threads} threads: pipeline on pre-decoded frames")
        limit = 10 * (plan.frames + plan.warmup) + 100
        if plan.warmup:
            run_pipeline(MemorySource(images, continuous, limit=limit), loaded, config, sinks, plan.warmup)
        predecoded, samples = run_pipeline(
            MemorySource(images, continuous, limit=limit), loaded, config, sinks, plan.frames
        )
        rss += samples
        steady = system.rss_bytes()
        progress(f"{loaded.model_name} on {loaded.accelerator}, {threads} threads: pipeline on the source")
        looping = dataclasses.replace(config, source=dataclasses.replace(config.source, loop=True))
        source = build_source(looping)
        try:
            real, samples = run_pipeline(source, loaded, config, sinks, plan.frames)
        finally:
            source.close()
        rss += samples
    finally:
        for sink in sinks:
            sink.close()
    p50 = Latency.of(invokes)
    row = Row(
        model=model,
        accelerator=accelerator,
        threads=threads,
        model_file=str(loaded.model_path),
        model_size_bytes=loaded.model_path.stat().st_size,
        ran_on=loaded.accelerator,
        decoder=loaded.estimator.decoder.format,
        invoke_ms=p50,
        invoke_fps=round(1000.0 / p50.p50, 3) if p50 and p50.p50 > 0 else None,
        invoke_samples_ms=tuple(round(v, 4) for v in invokes),
        predecoded=predecoded,
        source=real,
        rss_peak_bytes=max(rss) if rss else None,
        rss_steady_bytes=steady,
        temp_start_c=temp_start,
        temp_end_c=system.cpu_temperature(),
        throttled=system.throttled(),
    )
    return row


def edgetpu_present() -> bool:
    """True when an Edge TPU is attached (USB or PCIe), from the device scan; nothing is opened."""
    from edgepose.inference.tpu_devices import find_edgetpus

    return bool(find_edgetpus())


def environment(config: Config) -> dict[str, Any]:
    """Versions and host facts that explain a figure (a Pi 4 at 'ondemand' is not a Pi 5 at 'performance')."""
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    try:
        from edgepose.inference.runtime import import_runtime

        runtime = import_runtime()
        runtime_name, runtime_version = runtime.name, runtime.version
    except UnavailableError:
        runtime_name, runtime_version = None, None
    return {
        "edgepose": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtime": runtime_name,
        "runtime_version": runtime_version,
        "opencv": version("opencv-python-headless") or version("opencv-python"),
        "numba": version("numba"),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "board": system.board_model(),
        "cpus": os.cpu_count(),
        "governor": system.cpu_governor(),
        "device_id": config.device_id,
    }


def governor_warning(governor: str | None) -> str | None:
    """The warning Coral's benchmarks also give: without 'performance' the clock moves under the figures."""
    if governor is None or governor == "performance":
        return None
    return (
        f"CPU governor is '{governor}', not 'performance': figures vary with frequency scaling "
        "(echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)"
    )


def throttle_warning(flags: dict[str, bool] | None) -> str | None:
    if not flags:
        return None
    raised = [name for name, on in flags.items() if on]
    return f"the firmware reports {', '.join(raised)}: figures are lower than the board can do" if raised else None


def run_bench(
    config: Config,
    plan: Plan,
    progress: Progress = stderr_progress,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Every configuration of ``plan``, in order, on frames of ``plan.source`` (or the configured source)."""
    if plan.frames < 1 or plan.warmup < 0:
        raise InputError(f"frames must be at least 1 and warmup at least 0 (got {plan.frames}, {plan.warmup})")
    if plan.source:
        config = dataclasses.replace(config, source=dataclasses.replace(config.source, uri=plan.source))
    uri = resolve_source_uri(config)
    config = dataclasses.replace(config, source=dataclasses.replace(config.source, uri=uri))
    env = environment(config)
    warnings = [w for w in (governor_warning(env["governor"]), throttle_warning(system.throttled())) if w]
    for warning in warnings:
        log.warning("%s", warning)
    shown = redact_text(uri)  # the report and the progress line may be shared: no password of the camera's URL
    progress(f"decoding up to {min(plan.frames, plan.predecoded_max)} frames of {shown} into memory")
    images, continuous = predecode(config, min(plan.frames, plan.predecoded_max))
    env["source"] = shown
    env["frame_size"] = [int(images[0].shape[1]), int(images[0].shape[0])]
    env["temp_start_c"] = system.cpu_temperature()
    env["throttled_start"] = system.throttled()
    rows = []
    errors: list[EdgeposeError] = []
    todo = plan.configurations()
    for i, (model, accelerator, threads) in enumerate(todo, 1):
        what = f"{model} on {accelerator}, {threads} threads"
        progress(f"[{i}/{len(todo)}] {what}")
        row_config = configuration(config, model, accelerator, threads)
        temp_start = system.cpu_temperature()
        try:
            loaded = build_estimator(row_config)
        except EdgeposeError as exc:  # reported in its row; the other configurations still run
            progress(f"{what}: unavailable: {exc}")
            errors.append(exc)
            rows.append(Row(model, accelerator, threads, "unavailable", str(exc), temp_start_c=temp_start))
            continue
        try:
            rows.append(bench_one(row_config, loaded, plan, images, continuous, progress, temp_start))
        except EdgeposeError as exc:  # e.g. an invoke that hung: this configuration failed, not the run
            progress(f"{what}: failed: {exc}")
            errors.append(exc)
            rows.append(Row(model, accelerator, threads, "failed", str(exc), temp_start_c=temp_start))
        finally:
            loaded.estimator.engine.close()
            del loaded  # free the interpreter before the next configuration loads its own
            gc.collect()
    env["temp_end_c"] = system.cpu_temperature()
    env["throttled_end"] = system.throttled()
    env["rss_peak_process_bytes"] = system.peak_rss_bytes()
    late = throttle_warning(env["throttled_end"])
    if late and late not in warnings:
        warnings.append(late)
    if errors and len(errors) == len(rows):
        raise errors[0]  # nothing ran: the first reason, with its own exit code
    return Report(now().isoformat(timespec="seconds"), env, redacted(config), plan, tuple(rows), tuple(warnings))
