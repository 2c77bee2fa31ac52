"""The value types of a benchmark: latency summaries, one run's figures, one configuration's row.

All durations are milliseconds, rates frames per second, memory bytes, temperatures °C. A figure
that could not be measured (no tracker in the pipeline, no thermal sensor) is ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Latency:
    """Percentiles and mean of a list of durations (ms); ``n`` is how many were measured.

    ``mean`` is None when only percentiles were available (a :class:`~edgepose.stats.LatencyWindow`).
    """

    p50: float
    p95: float
    p99: float
    mean: float | None
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency | None:
        """The summary of ``samples``, or None when there are none."""
        if len(samples) == 0:
            return None
        values = np.asarray(samples, dtype=np.float64)
        p50, p95, p99 = (float(v) for v in np.percentile(values, (50, 95, 99)))
        return cls(round(p50, 4), round(p95, 4), round(p99, 4), round(float(values.mean()), 4), int(values.size))

    @classmethod
    def of_window(cls, window: Any) -> Latency | None:
        """The summary of a :class:`~edgepose.stats.LatencyWindow` (None when absent or empty)."""
        if window is None or len(window) == 0:
            return None
        p50, p95, p99 = (window.percentile(q) for q in (50, 95, 99))
        return cls(round(p50, 4), round(p95, 4), round(p99, 4), None, len(window))


@dataclass(frozen=True)
class RunFigures:
    """One pipeline run of ``frames`` processed frames.

    fps: frames processed / wall time of the whole run (what a user gets).
    frame_ms: time between consecutive outputs (the first from the start of the run).
    invoke_ms: the interpreter's invoke inside this run (per-frame ``Timing.inference``).
    latency_ms: capture (the frame's monotonic stamp) to the end of publishing; live sources
        only (cameras, streams, video with ``source.realtime``): files carry media time, not a
        capture moment, so it is None for them and for pre-decoded frames.
    track_ms: tracking and smoothing; None where no tracker runs (``tracking.tracker: none``,
        or a source that is not video-like, which the pipeline does not track).
    publish_ms: building and encoding the document and handing it to every sink.
    """

    frames: int
    elapsed_s: float
    fps: float
    frame_ms: Latency | None
    invoke_ms: Latency | None
    preprocess_ms: Latency | None
    decode_ms: Latency | None
    track_ms: Latency | None
    publish_ms: Latency | None
    latency_ms: Latency | None
    captured: int
    skipped: int
    failed: int


@dataclass(frozen=True)
class Row:
    """One configuration (model x accelerator x threads) of a benchmark.

    status: ``ok``; ``unavailable`` (could not load: model missing, no decoder for its outputs,
    no Edge TPU) or ``failed`` (failed while measured, e.g. an invoke overran its deadline), with
    ``error`` saying why: a configuration that cannot run is reported, not fatal.
    accelerator: what was asked; ``ran_on``: what actually ran it.
    invoke_ms: the engine's invoke alone, as the daemon calls it (through the invoke-deadline
    supervisor), on one fixed input after the warm-up; ``invoke_fps`` is ``1000 / invoke_ms.p50``.
    predecoded: the pipeline on frames decoded into memory beforehand (excludes file decoding);
    source: the pipeline on the real source.
    rss_peak_bytes: the largest resident size sampled during this configuration;
    rss_steady_bytes: the resident size at the end of the pre-decoded run.
    """

    model: str
    accelerator: str
    threads: int
    status: str = "ok"
    error: str | None = None
    model_file: str | None = None
    model_size_bytes: int | None = None
    ran_on: str | None = None
    decoder: str | None = None
    invoke_ms: Latency | None = None
    invoke_fps: float | None = None
    invoke_samples_ms: tuple[float, ...] = ()
    predecoded: RunFigures | None = None
    source: RunFigures | None = None
    rss_peak_bytes: int | None = None
    rss_steady_bytes: int | None = None
    temp_start_c: float | None = None
    temp_end_c: float | None = None
    throttled: dict[str, bool] | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.model, self.accelerator, self.threads)


@dataclass(frozen=True)
class Plan:
    """What to measure: every model x accelerator x thread count, ``frames`` each after ``warmup``."""

    models: tuple[str, ...]
    accelerators: tuple[str, ...]
    threads: tuple[int, ...]
    frames: int = 100
    warmup: int = 10
    source: str = ""  # empty: the configured source
    sinks: tuple[str, ...] = ()
    predecoded_max: int = 32  # distinct frames kept in memory (cycled); bounds memory on small boards

    def configurations(self) -> list[tuple[str, str, int]]:
        return [(m, a, t) for m in self.models for a in self.accelerators for t in self.threads]


@dataclass(frozen=True)
class Report:
    """A whole benchmark: when, where (environment), with what config, and one row per configuration."""

    created: str
    environment: dict[str, Any]
    config: dict[str, Any]
    plan: Plan
    rows: tuple[Row, ...]
    warnings: tuple[str, ...] = field(default=())
