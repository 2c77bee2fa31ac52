"""The running loop: source -> estimator -> sinks, with every drop and failure counted.

A frame that fails (corrupt image, decode error) is counted and skipped; the run goes on. The
loop checks ``stop`` between frames, so a stop request takes effect within one frame time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgepose.document import Stamp, encode, to_document
from edgepose.errors import FrameError
from edgepose.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.sources.base import Source
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

# Called after every processed frame with the frame, its result and its document (the service's
# watchdog, the preview page and tests hang off this). Hooks must be quick and must not raise.
ResultHook = Callable[[Frame, FrameResult, dict[str, Any]], None]


class Pipeline:
    """Runs frames from one source through one estimator into the sinks."""

    def __init__(
        self,
        source: Source,
        estimator: PoseEstimator,
        sinks: Sequence[Sink],
        stamp: Stamp,
        stats: RunStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: Sequence[ResultHook] = (),
    ) -> None:
        self.source = source
        self.estimator = estimator
        self.sinks = list(sinks)
        self.stamp = stamp
        self.stats = stats or RunStats()
        self.clock = clock
        self.hooks = list(hooks)

    def run(self, max_frames: int | None = None, stop: threading.Event | None = None) -> RunStats:
        """Process frames until the source ends, ``max_frames`` are done, or ``stop`` is set."""
        stop = stop or threading.Event()
        stats = self.stats
        stats.started_mono = self.clock()
        while not stop.is_set() and (max_frames is None or stats.processed < max_frames):
            try:
                frame = self.source.read()
            except FrameError as exc:
                stats.count("failed")
                log.warning("skipped a frame: %s", exc)
                continue
            if frame is None:
                break
            stats.count("captured")
            self.process(frame)
        return stats

    def process(self, frame: Frame) -> FrameResult | None:
        """Estimate, serialize once, hand to every sink and hook. Returns None if the frame failed."""
        stats = self.stats
        try:
            result = self.estimator.estimate(frame, continuous=self.source.continuous)
        except FrameError as exc:
            stats.count("failed")
            log.warning("frame %d failed: %s", frame.index, exc)
            return None
        document = to_document(result, self.stamp)
        line = encode(document)
        for sink in self.sinks:
            sink.write(result, document, line)
        now = self.clock()
        t = result.timing
        stats.preprocess_ms.add(t.preprocess)
        stats.inference_ms.add(t.inference)
        stats.decode_ms.add(t.decode)
        stats.total_ms.add(t.total)
        stats.latency_ms.add((now - frame.mono) * 1e3)
        with stats.lock:
            stats.processed += 1
            stats.published += 1
            stats.people = len(result.poses)
            stats.last_progress_mono = now
        for hook in self.hooks:
            hook(frame, result, document)
        return result
