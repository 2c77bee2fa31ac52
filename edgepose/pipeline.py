"""The running pipeline: a capture thread, a frame slot, then estimate -> track -> publish.

Capture runs in its own thread and hands frames to inference through a :class:`FrameSlot`:

- **live sources** (cameras, streams, video paced in real time) produce frames whether or not we
  keep up. The slot holds the newest frame only (size 1 by default); a frame replaced before
  inference took it is counted as ``skipped``, never queued, so latency and memory stay flat.
- **finite sources that are not live** (image files, video files read as fast as possible) wait
  for inference instead (back-pressure): every frame is processed, one document per frame.

Decode, tracking and publishing run in the inference thread right after ``invoke``. They take a
millisecond or two against tens for inference, sinks must not block by contract (the MQTT sink
queues), and the tracker and MoveNet's crop region need frames in order; a separate output
stage would add a hand-off and a thread without freeing the capture thread, which never waits
on inference anyway.

A frame that fails (corrupt image, decode error) is counted and skipped; the run goes on. A stop
request takes effect within one frame time, and the capture thread is joined before ``run``
returns.

Other threads never change a stage in place: they queue a :class:`Reconfigure` with
:meth:`Pipeline.request`, and the inference thread applies what is queued between two frames. A
frame is thus estimated, tracked and published with one decoder and one tracker, and each stage
reads its collaborators once per frame.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from edgepose.document import Stamp, encode, to_document
from edgepose.errors import FrameError, InputError
from edgepose.estimator import DecoderSetup, PoseEstimator
from edgepose.frame import Frame
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.sources.base import Source
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

# Called after every processed frame with the frame, its result and its document (the service's
# watchdog, the preview page and tests hang off this). Hooks must be quick and must not raise.
ResultHook = Callable[[Frame, FrameResult, dict[str, Any]], None]

POLL_S = 0.05  # how often waiting threads look at the stop flags (bounds the stop delay)
JOIN_TIMEOUT_S = 5.0  # how long run() waits for the capture thread to end
MAX_CONSECUTIVE_FAILURES = 1000  # reads failing in a row before a source counts as broken


class Tracking(Protocol):
    """A stage that gives poses ids (and may smooth them); frames arrive in capture order."""

    def __call__(self, result: FrameResult) -> FrameResult: ...

    def reset(self) -> None: ...


class Ended(enum.StrEnum):
    """Why :meth:`Pipeline.run` returned (the service's last words say it)."""

    SOURCE = "the source ended"
    MAX_FRAMES = "max_frames reached"
    DURATION = "duration reached"
    STOPPED = "stop requested"


class Keep(enum.Enum):
    """Marker for a :class:`Reconfigure` field that leaves its stage as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Reconfigure:
    """A change to the running pipeline, applied by the inference thread between two frames.

    ``decoder``: a setup built beforehand (``PoseEstimator.setup_for``), None to keep the current
    one. ``tracking``: the new tracking stage, None for no tracking, ``KEEP`` to keep the current
    one. Built outside the inference thread, so a change that cannot be built never reaches a frame.
    """

    decoder: DecoderSetup | None = None
    tracking: Tracking | Literal[Keep.KEEP] | None = KEEP


class FrameSlot:
    """The hand-off between the capture thread and inference.

    ``drop=True`` (live sources): holds at most ``capacity`` frames; a new frame pushes out the
    oldest, and ``put`` returns how many were pushed out. ``drop=False`` (finite sources): ``put``
    waits until there is room (back-pressure), or until the slot is closed.
    """

    def __init__(self, capacity: int = 1, drop: bool = True) -> None:
        if capacity < 1:
            raise ValueError(f"slot capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.drop = drop
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._finished = False  # the producer is done: get() returns END once empty
        self._closed = False  # the consumer is done: put() returns at once

    def put(self, frame: Frame) -> int:
        """Hand over a frame; returns the number of frames dropped to make room (or this one, if closed)."""
        with self._cond:
            if self._closed:
                return 1
            dropped = 0
            if self.drop:
                while len(self._items) >= self.capacity:
                    self._items.popleft()
                    dropped += 1
            else:
                while len(self._items) >= self.capacity and not self._closed:
                    self._cond.wait(POLL_S)
                if self._closed:
                    return 1
            self._items.append(frame)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float) -> Frame | type[END] | None:
        """The next frame, ``END`` when the producer finished and the slot is empty, None on timeout."""
        with self._cond:
            if not self._items and not self._finished:
                self._cond.wait(timeout)
            if self._items:
                frame = self._items.popleft()
                self._cond.notify_all()
                return frame
            return END if self._finished else None

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def close(self) -> int:
        """Stop accepting frames; returns how many were still waiting (the caller counts them)."""
        with self._cond:
            self._closed = True
            left = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return left


class END:
    """Marker: the source has no more frames."""


class Pipeline:
    """Runs frames from one source through one estimator (and tracker) into the sinks."""

    def __init__(
        self,
        source: Source,
        estimator: PoseEstimator,
        sinks: Sequence[Sink],
        stamp: Stamp,
        stats: RunStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: Sequence[ResultHook] = (),
        tracking: Tracking | None = None,
        slot_size: int = 1,
    ) -> None:
        self.source = source
        self.estimator = estimator
        self.sinks = list(sinks)
        self.stamp = stamp
        self.stats = stats or RunStats()
        self.clock = clock
        self.hooks = list(hooks)
        self.tracking = tracking
        self.slot_size = slot_size
        self._error: BaseException | None = None
        self.ended: Ended | None = None  # why the last run() returned; None while running or after an error
        self._requests: queue.SimpleQueue[Reconfigure] = queue.SimpleQueue()

    def request(self, change: Reconfigure) -> None:
        """Queue a change from any thread; it applies before the next frame is processed."""
        self._requests.put(change)

    def apply_requests(self) -> int:
        """Apply the queued changes in order (the inference thread, between frames); how many there were."""
        applied = 0
        while True:
            try:
                change = self._requests.get_nowait()
            except queue.Empty:
                return applied
            if change.decoder is not None:
                self.estimator.use(change.decoder)
            if change.tracking is not KEEP:
                self.tracking = change.tracking
            applied += 1

    @property
    def live(self) -> bool:
        """Whether the source produces frames on its own schedule (then the slot drops stale ones)."""
        return bool(getattr(self.source, "live", False))

    def run(
        self,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
        duration: float | None = None,
    ) -> RunStats:
        """Process frames until the source ends, ``max_frames`` are processed, ``duration`` seconds
        (on the pipeline's clock) have passed, or ``stop`` is set. Re-raises a source's fatal error.
        """
        stop = stop or threading.Event()
        stats = self.stats
        live = self.live
        slot = FrameSlot(self.slot_size if live else 1, drop=live)
        halt = threading.Event()  # tells the capture thread to end, whatever the reason
        self._error = None
        self.ended = None
        stats.started_mono = self.clock()
        with stats.lock:
            stats.last_progress_mono = stats.started_mono
        deadline = stats.started_mono + duration if duration is not None else None
        # A finite source is read no further than needed: with back-pressure nothing is lost.
        read_limit = None if live else max_frames
        thread = threading.Thread(
            target=self._capture, args=(slot, halt, read_limit), name="edgepose-capture", daemon=True
        )
        thread.start()
        ended = Ended.STOPPED
        try:
            while not stop.is_set():
                if max_frames is not None and stats.processed >= max_frames:
                    ended = Ended.MAX_FRAMES
                    break
                if deadline is not None and self.clock() >= deadline:
                    ended = Ended.DURATION
                    break
                item = slot.get(POLL_S)
                if item is END:
                    ended = Ended.SOURCE
                    break
                if item is None:
                    self._idle()
                    continue
                self.process(item)  # type: ignore[arg-type]
        finally:
            halt.set()
            left = slot.close()
            if left:
                stats.count("skipped", left)  # captured but never processed: counted, not lost
            interrupt = getattr(self.source, "interrupt", None)
            if interrupt is not None:
                interrupt()
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("the capture thread did not end within %.0f s (a read is blocked)", JOIN_TIMEOUT_S)
        if self._error is not None:
            raise self._error
        self.ended = ended
        return stats

    def _capture(self, slot: FrameSlot, halt: threading.Event, limit: int | None) -> None:
        """The capture thread: read, stamp, hand over; never waits on inference for live sources."""
        stats = self.stats
        n = failures = 0
        try:
            while not halt.is_set() and (limit is None or n < limit):
                try:
                    frame = self.source.read()
                except FrameError as exc:
                    stats.fail(exc.message)
                    failures += 1
                    log.warning("skipped a frame: %s", exc)
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        raise InputError(
                            f"source {self.source.name}: {failures} reads failed in a row", f"last error: {exc}"
                        ) from None
                    continue
                if frame is None:
                    break
                failures = 0
                n += 1
                stats.count("captured")
                dropped = slot.put(frame)
                if dropped:
                    stats.count("skipped", dropped)
        except BaseException as exc:  # handed to run(), which re-raises it in the caller's thread
            self._error = exc
        finally:
            slot.finish()

    def _idle(self) -> None:
        """Nothing to process: apply queued changes, let a source that watches itself check for a stall."""
        self.apply_requests()
        check = getattr(self.source, "check_stall", None)
        if check is not None:
            check()

    def process(self, frame: Frame) -> FrameResult | None:
        """Estimate, track, serialize once, hand to every sink and hook. None if the frame failed."""
        stats = self.stats
        self.apply_requests()  # the frame boundary: what other threads asked for applies from this frame
        estimator, tracking, continuous = self.estimator, self.tracking, self.source.continuous  # once a frame
        try:
            result = estimator.estimate(frame, continuous=continuous)
        except FrameError as exc:
            stats.fail(f"frame {frame.file or frame.index}: {exc.message}")
            log.warning("frame %d failed: %s", frame.index, exc)
            return None
        t0 = self.clock()
        if tracking is not None and continuous:
            result = tracking(result)
        t1 = self.clock()
        accelerator = getattr(estimator.engine, "accelerator", self.stamp.accelerator)
        if accelerator != self.stamp.accelerator:  # the Edge TPU fell back to the CPU while running
            self.stamp = dataclasses.replace(self.stamp, accelerator=accelerator)
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
        stats.track_ms.add((t1 - t0) * 1e3)
        stats.publish_ms.add((now - t1) * 1e3)
        if self.live:  # capture to output; files read as fast as possible have no capture moment
            stats.latency_ms.add((now - frame.mono) * 1e3)
        with stats.lock:
            stats.processed += 1
            stats.published += 1
            stats.people = len(result.poses)
            stats.last_progress_mono = now
        for hook in self.hooks:
            hook(frame, result, document)
        return result
