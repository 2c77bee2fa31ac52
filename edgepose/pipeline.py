"""The running pipeline: a capture thread, a frame slot, then estimate -> track -> publish.

Capture runs in its own thread and hands frames to inference through a :class:`FrameSlot`:

- **live sources** (cameras, streams, video paced in real time) produce frames whether or not we
  keep up. The slot holds the newest frame only (size 1 by default); a frame replaced before
  inference took it is counted as ``skipped``, never queued, so latency and memory stay flat.
- **finite sources that are not live** (image files, video files read as fast as possible) wait
  for inference instead (back-pressure): every frame is processed, one document per frame.

Decode, tracking and publishing run in the inference thread, in capture order (the tracker and
MoveNet's crop region need frames in order). Two schedules, chosen per accelerator
(:func:`overlap_for`, config ``model.overlap``):

- **serial**: preprocess, invoke, decode, track, publish, one frame after the other. On the CPU
  the Python stages compete with XNNPACK's threads for the same cores, so overlapping them buys
  little there.
- **overlapped**: while frame n is on the accelerator (the invoke runs on the supervisor's worker
  thread and releases the GIL), frame n+1 is preprocessed and frame n-1 is decoded, tracked,
  serialized and published; the next invoke is handed over as soon as the previous one returns.
  On an accelerator with its own silicon (the Edge TPU) the Python work then hides behind the
  invoke. MoveNet's crop region stays exact by default: frame n is decoded before frame n+1 is
  cut, so for it only tracking and publishing overlap, and the documents are those of the serial
  schedule. ``exact_crop=False`` cuts n+1 from n-1's pose instead (n is still on the accelerator):
  closer to the accelerator's limit, but on the real model it found fewer poses (docs/pipeline.md).

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
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from edgepose.documents.events import event_documents
from edgepose.documents.poses import Stamp, encode, to_document
from edgepose.errors import FrameError, InputError
from edgepose.estimator import DecoderSetup, PoseEstimator, Prepared
from edgepose.frame import Frame
from edgepose.inference.supervisor import InFlight
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


class Analyzing(Protocol):
    """The analysis stage after tracking (:class:`edgepose.analysis.AnalysisStage`): angles, zones, events.

    It runs on every frame, photos included (they get counts, no enter/leave), and never raises.
    """

    def apply(self, result: FrameResult, continuous: bool = True) -> FrameResult: ...

    def reset(self) -> None: ...


@runtime_checkable
class StartsInvokes(Protocol):
    """An engine that can run an invoke in the background: what the overlapped schedule needs."""

    def start(self, tensor: np.ndarray, confirm: bool = False) -> InFlight: ...

    def collect(self, flight: InFlight) -> list[np.ndarray]: ...


@dataclass(frozen=True, slots=True)
class StageTimes:
    """What one published frame cost after decoding, in ms (the benchmark's stage table)."""

    track: float  # tracking and smoothing
    document: float  # building the document (and the events')
    encode: float  # JSON
    sinks: float  # handing the line (and the events) to every sink
    analysis: float = 0.0  # angles, zones, events (0 without the stage)


StageProbe = Callable[[StageTimes], None]

# Which accelerators gain from overlap (measured in docs/pipeline.md): the Edge TPU (and the
# benchmark's GIL-releasing stand-in) invoke on their own silicon, so Python's stages hide behind
# the invoke. On the CPU, XNNPACK's threads and the Python stages share the same cores.
OVERLAP_ACCELERATORS = frozenset({"edgetpu", "sleep"})


def overlap_for(mode: str, accelerator: str) -> bool:
    """Whether to overlap stages: ``on``, ``off``, or ``auto`` (by accelerator)."""
    if mode == "auto":
        return accelerator in OVERLAP_ACCELERATORS
    return mode == "on"


@dataclass(slots=True)
class _Flight:
    """A frame on the accelerator: its input, the invoke, and the tracking stage it will get."""

    prepared: Prepared
    invoke: InFlight
    tracking: Tracking | None
    continuous: bool
    analysis: Analyzing | None = None


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
    one; ``analysis`` the same for the analysis stage. Built outside the inference thread, so a
    change that cannot be built never reaches a frame.
    """

    decoder: DecoderSetup | None = None
    tracking: Tracking | Literal[Keep.KEEP] | None = KEEP
    analysis: Analyzing | Literal[Keep.KEEP] | None = KEEP


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

    def get(self, timeout: float, until: Callable[[], bool] | None = None) -> Frame | type[END] | None:
        """The next frame, ``END`` when the producer finished and the slot is empty, None on timeout.

        ``until``: also return None as soon as it is true (checked whenever :meth:`wake` is called),
        so the overlapped pipeline waits for "a frame, or the invoke in flight has ended".
        """
        with self._cond:
            if until is not None:
                self._cond.wait_for(lambda: self._items or self._finished or until(), timeout)
            elif not self._items and not self._finished:
                self._cond.wait(timeout)
            if self._items:
                frame = self._items.popleft()
                self._cond.notify_all()
                return frame
            return END if self._finished else None

    def wake(self) -> None:
        """Make a waiting :meth:`get` look at its ``until`` again (from any thread)."""
        with self._cond:
            self._cond.notify_all()

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
        overlap: bool = False,
        probe: StageProbe | None = None,
        exact_crop: bool = True,
        analysis: Analyzing | None = None,
    ) -> None:
        self.source = source
        self.estimator = estimator
        self.sinks = list(sinks)
        self.stamp = stamp
        self.stats = stats or RunStats()
        self.clock = clock
        self.hooks = list(hooks)
        self.tracking = tracking
        self.analysis = analysis
        self.slot_size = slot_size
        # Overlap needs an engine that invokes in the background; any other runs serially.
        self.overlap = overlap and isinstance(estimator.engine, StartsInvokes)
        self.probe = probe
        self.exact_crop = exact_crop
        self._error: BaseException | None = None
        self.ended: Ended | None = None  # why the last run() returned; None while running or after an error
        self._requests: queue.SimpleQueue[Reconfigure] = queue.SimpleQueue()
        self._wake: Callable[[Any], None] = lambda _future: None

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
            if change.analysis is not KEEP:
                self.analysis = change.analysis
            applied += 1

    @property
    def live(self) -> bool:
        """Whether the source produces frames on its own schedule (then the slot drops stale ones)."""
        return self.source.live

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
        self._wake = lambda _future: slot.wake()  # an invoke that ends wakes the overlapped loop
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
        try:
            loop = self._overlapped if self.overlap else self._serial
            ended = loop(slot, stop, max_frames, deadline)
        finally:
            halt.set()
            left = slot.close()
            if left:
                stats.count("skipped", left)  # captured but never processed: counted, not lost
            self.source.interrupt()
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("the capture thread did not end within %.0f s (a read is blocked)", JOIN_TIMEOUT_S)
        if self._error is not None:
            raise self._error
        self.ended = ended
        return stats

    def _serial(self, slot: FrameSlot, stop: threading.Event, max_frames: int | None, deadline: float | None) -> Ended:
        """One frame at a time: estimate, track, publish, then take the next."""
        stats = self.stats
        while not stop.is_set():
            if max_frames is not None and stats.processed >= max_frames:
                return Ended.MAX_FRAMES
            if deadline is not None and self.clock() >= deadline:
                return Ended.DURATION
            item = slot.get(POLL_S)
            if item is END:
                return Ended.SOURCE
            if item is None:
                self._idle()
                continue
            self.process(item)  # type: ignore[arg-type]
        return Ended.STOPPED

    def _overlapped(self, slot: FrameSlot, stop: threading.Event, max_frames: int | None,
                    deadline: float | None) -> Ended:  # fmt: skip
        """Frame n on the accelerator while n+1 is prepared and n-1 is published (see the module's doc).

        At most one frame is in flight. When no newer frame is waiting, the one in flight is
        finished at once rather than held, so a slow camera adds no latency; the frame in flight
        when the run ends (stop, limit, end of source) is finished and published too.
        """
        stats = self.stats
        flight: _Flight | None = None
        ended = Ended.STOPPED
        while not stop.is_set():
            held = 1 if flight is not None else 0
            if max_frames is not None and stats.processed + held >= max_frames:
                if flight is None:
                    ended = Ended.MAX_FRAMES
                    break
                self._land(flight, self._collect(flight))  # it may fail: then another frame is due
                flight = None
                continue
            if deadline is not None and self.clock() >= deadline:
                ended = Ended.DURATION
                break
            item = slot.get(POLL_S, flight.invoke.future.done) if flight is not None else slot.get(POLL_S)
            if item is END:
                ended = Ended.SOURCE
                break
            if item is None:
                if flight is not None:
                    self._land(flight, self._collect(flight))
                    flight = None
                else:
                    self._idle()
                continue
            self.apply_requests()  # the frame boundary: applies from the frame taken now
            frame: Frame = item  # type: ignore[assignment]
            exact = flight is not None and self.exact_crop and flight.continuous and \
                flight.prepared.setup.uses_crop_region  # fmt: skip
            if flight is None:
                flight = self._launch(frame)
            elif exact:  # decode n first: n+1's crop region comes from n's pose
                outputs = self._collect(flight)
                result = self._decode(flight, outputs)
                following = self._launch(frame)
                self._track_and_publish(flight, result)
                flight = following
            else:  # cut n+1 while n runs, hand n+1 over, then decode and publish n
                prepared = self._prepare(frame)
                outputs = self._collect(flight)
                following = self._start(prepared)
                self._land(flight, outputs)
                flight = following
        if flight is not None:
            self._land(flight, self._collect(flight))
            flight = None
        return ended

    def _prepare(self, frame: Frame) -> Prepared | None:
        """The frame's model input, or None when the frame cannot be prepared (counted as failed)."""
        try:
            return self.estimator.prepare(frame, continuous=self.source.continuous)
        except FrameError as exc:
            self._failed(frame, exc)
            return None

    def _start(self, prepared: Prepared | None) -> _Flight | None:
        """Hand a prepared frame to the accelerator; the tracking stage is fixed for it now."""
        if prepared is None:
            return None
        engine: StartsInvokes = self.estimator.engine  # type: ignore[assignment]
        invoke = engine.start(prepared.tensor, confirm=True)  # the worker begins before we go on
        invoke.future.add_done_callback(self._wake)
        return _Flight(prepared, invoke, self.tracking, self.source.continuous, self.analysis)

    def _launch(self, frame: Frame) -> _Flight | None:
        return self._start(self._prepare(frame))

    def _collect(self, flight: _Flight | None) -> list[np.ndarray] | None:
        """The invoke's outputs, or None when it failed and the engine recovered (counted as failed)."""
        if flight is None:
            return None
        engine: StartsInvokes = self.estimator.engine  # type: ignore[assignment]
        try:
            return engine.collect(flight.invoke)
        except FrameError as exc:
            self._failed(flight.prepared.frame, exc)
            return None

    def _decode(self, flight: _Flight | None, outputs: list[np.ndarray] | None) -> FrameResult | None:
        if flight is None or outputs is None:
            return None
        try:
            return self.estimator.finish(flight.prepared, outputs, flight.invoke.invoke_ms)
        except FrameError as exc:
            self._failed(flight.prepared.frame, exc)
            return None

    def _track_and_publish(self, flight: _Flight | None, result: FrameResult | None) -> None:
        if flight is not None and result is not None:
            self._publish(flight.prepared.frame, result, flight.tracking, flight.continuous, flight.analysis)

    def _land(self, flight: _Flight | None, outputs: list[np.ndarray] | None) -> None:
        """Decode, track and publish a frame whose invoke has returned."""
        self._track_and_publish(flight, self._decode(flight, outputs))

    def _failed(self, frame: Frame, exc: FrameError) -> None:
        self.stats.fail(f"frame {frame.file or frame.index}: {exc.message}")
        log.warning("frame %d failed: %s", frame.index, exc)

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
        self.source.check_stall()

    def process(self, frame: Frame) -> FrameResult | None:
        """Estimate, track, serialize once, hand to every sink and hook. None if the frame failed."""
        self.apply_requests()  # the frame boundary: what other threads asked for applies from this frame
        estimator, tracking, continuous = self.estimator, self.tracking, self.source.continuous  # once a frame
        analysis = self.analysis
        try:
            result = estimator.estimate(frame, continuous=continuous)
        except FrameError as exc:
            self._failed(frame, exc)
            return None
        return self._publish(frame, result, tracking, continuous, analysis)

    def _publish(self, frame: Frame, result: FrameResult, tracking: Tracking | None, continuous: bool,
                 analysis: Analyzing | None = None) -> FrameResult:  # fmt: skip
        """Track, analyze, serialize once, hand to every sink and hook, count."""
        stats, clock = self.stats, self.clock
        t0 = clock()
        if tracking is not None and continuous:
            result = tracking(result)
        ta = clock()
        # The analysis stage after tracking (FrameResult in, FrameResult out); like the tracker it
        # is read once per frame (process, _start) and replaced only through a Reconfigure.
        if analysis is not None:
            result = analysis.apply(result, continuous)
        t1 = clock()
        accelerator = self.estimator.engine.accelerator
        if accelerator != self.stamp.accelerator:  # the Edge TPU fell back to the CPU while running
            self.stamp = dataclasses.replace(self.stamp, accelerator=accelerator)
        document = to_document(result, self.stamp)
        events = event_documents(result, self.stamp.device) if analysis is not None else []
        t2 = clock()
        line = encode(document)
        event_lines = [encode(e) for e in events]
        t3 = clock()
        for sink in self.sinks:
            sink.write(result, document, line)
            if events:
                sink.write_events(result, events, event_lines)
        now = clock()
        t = result.timing
        stats.preprocess_ms.add(t.preprocess)
        stats.inference_ms.add(t.inference)
        stats.decode_ms.add(t.decode)
        stats.total_ms.add(t.total)
        stats.track_ms.add((ta - t0) * 1e3)
        stats.publish_ms.add((now - t1) * 1e3)
        if self.probe is not None:
            self.probe(StageTimes((ta - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (now - t3) * 1e3,
                                  (t1 - ta) * 1e3))  # fmt: skip
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
