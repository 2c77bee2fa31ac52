"""Counters and latency windows shared by the pipeline, the stats topic, metrics and the benchmark.

One object per run; every figure any report shows comes from here, so the MQTT stats, the
Prometheus metrics and the benchmark can never disagree about what was counted.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

FAILURES_NAMED = 20  # failures a run's summary names; the rest are counted


def failure_summary(failed: int, failures: list[str]) -> str:
    """``N frames failed:`` and why, one indented line each, then ``... and M more``."""
    lines = [f"{failed} frame{'s' if failed != 1 else ''} failed:", *(f"  {why}" for why in failures)]
    if failed > len(failures):
        lines.append(f"  ... and {failed - len(failures)} more")
    return "\n".join(lines)


class LatencyWindow:
    """The last ``size`` durations (ms), for percentiles over a recent window."""

    def __init__(self, size: int = 512) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._values.append(ms)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100), or None when nothing was recorded."""
        with self._lock:
            if not self._values:
                return None
            return float(np.percentile(np.fromiter(self._values, float), q))

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class RunStats:
    """What happened in a run. Counters only grow; read them from any thread."""

    started_mono: float = 0.0
    captured: int = 0  # frames the source produced
    processed: int = 0  # frames that went through the model
    skipped: int = 0  # frames replaced by a newer one before inference (never queued)
    failed: int = 0  # frames or reads that raised and were skipped
    published: int = 0  # documents handed to the sinks
    last_progress_mono: float = 0.0  # when a frame was last processed
    people: int = 0  # poses in the last processed frame
    preprocess_ms: LatencyWindow = field(default_factory=LatencyWindow)
    inference_ms: LatencyWindow = field(default_factory=LatencyWindow)
    decode_ms: LatencyWindow = field(default_factory=LatencyWindow)
    total_ms: LatencyWindow = field(default_factory=LatencyWindow)
    latency_ms: LatencyWindow = field(default_factory=LatencyWindow)  # capture to output (live sources)
    track_ms: LatencyWindow = field(default_factory=LatencyWindow)  # tracking and smoothing
    publish_ms: LatencyWindow = field(default_factory=LatencyWindow)  # document, encoding, sinks, per frame
    source_retries: int = 0  # times a live source was reopened after failing
    accelerator_fallbacks: int = 0  # times the CPU replaced the Edge TPU (model.fallback: cpu)
    implausible: int = 0  # poses the plausibility gate dropped (decoder.plausibility: on)
    analysis_failures: int = 0  # frames on which an analyzer (zones, behaviours) failed; its findings left out
    # Why the first FAILURES_NAMED failures failed: their warnings are rate-limited, so a run's
    # summary names them from here (one file of a directory each).
    failures: list[str] = field(default_factory=list)
    # Each camera's own figures (the pipeline counts a frame in its camera's and in these totals).
    cameras: dict[str, RunStats] = field(default_factory=dict, repr=False)
    # A camera's figures count their counters (count, fail) in the totals too: the stages that count
    # (a retrying source, the analysis stage, the plausibility gate) are given the camera's.
    parent: RunStats | None = field(default=None, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)
        if self.parent is not None:
            self.parent.count(name, n)

    def fail(self, why: str) -> None:
        """Count a frame or read that failed, keeping why for the summary (the first ones only)."""
        with self.lock:
            self.failed += 1
            if len(self.failures) < FAILURES_NAMED:
                self.failures.append(why)
        if self.parent is not None:
            self.parent.fail(why)

    def camera(self, name: str) -> RunStats:
        """Camera ``name``'s own figures, created on first use; its counters count in these too."""
        with self.lock:
            stats = self.cameras.get(name)
            if stats is None:
                stats = self.cameras[name] = RunStats(started_mono=self.started_mono, parent=self)
            return stats

    def see_people(self, people: int) -> None:
        """The people in this camera's latest frame; the device's total (the parent's ``people``) is
        the sum of every camera's latest count, computed here and nowhere else."""
        with self.lock:
            self.people = people
        parent = self.parent
        if parent is not None:
            with parent.lock:
                parent.people = sum(c.people for c in parent.cameras.values())

    def quiet_camera(self, name: str) -> None:
        """Camera ``name`` has delivered no frame for a while: it sees nobody until it delivers again, so
        its last count leaves the device's total (``people``). Its next frame counts as usual."""
        with self.lock:
            stats = self.cameras.get(name)
        if stats is not None:
            stats.see_people(0)

    def drop_camera(self, name: str) -> None:
        """A camera was removed (a reload): its figures leave the reports; the totals keep what it counted."""
        with self.lock:
            self.cameras.pop(name, None)
            self.people = sum(c.people for c in self.cameras.values())

    def camera_snapshots(self, now: float) -> dict[str, dict[str, float | int | None]]:
        """:meth:`snapshot` of each camera."""
        with self.lock:
            cameras = dict(self.cameras)
        return {name: stats.snapshot(now) for name, stats in cameras.items()}

    def failure_summary(self) -> str:
        """``N frames failed:`` and why, one line each, the first :data:`FAILURES_NAMED` of them."""
        with self.lock:
            failed, failures = self.failed, list(self.failures)
        return failure_summary(failed, failures)

    def snapshot(self, now: float) -> dict[str, float | int | None]:
        """The pipeline's figures as plain numbers (the stats topic, /metrics and bench read this).

        Rates are averages since the start; percentiles cover the last window of frames.
        """
        with self.lock:
            captured, processed, skipped, failed = self.captured, self.processed, self.skipped, self.failed
            published, people, retries = self.published, self.people, self.source_retries
            fallbacks, implausible = self.accelerator_fallbacks, self.implausible
            analysis_failures = self.analysis_failures
        uptime = max(now - self.started_mono, 1e-9) if self.started_mono else 0.0
        return {
            "uptime_s": round(uptime, 3),
            "captured": captured,
            "processed": processed,
            "skipped": skipped,
            "failed": failed,
            "published": published,
            "people": people,
            "camera_fps": round(captured / uptime, 3) if uptime else 0.0,
            "processed_fps": round(processed / uptime, 3) if uptime else 0.0,
            "preprocess_ms_p50": self.preprocess_ms.percentile(50),
            "inference_ms_p50": self.inference_ms.percentile(50),
            "inference_ms_p95": self.inference_ms.percentile(95),
            "decode_ms_p50": self.decode_ms.percentile(50),
            "decode_ms_p95": self.decode_ms.percentile(95),
            "latency_ms_p50": self.latency_ms.percentile(50),
            "latency_ms_p99": self.latency_ms.percentile(99),
            "track_ms_p50": self.track_ms.percentile(50),
            "publish_ms_p50": self.publish_ms.percentile(50),
            "source_retries": retries,
            "accelerator_fallbacks": fallbacks,
            "implausible": implausible,
            "analysis_failures": analysis_failures,
        }
