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
  schedule. That decode (the keypoints only) and that cut run on the worker itself, right after
  n's invoke (``SupervisedEngine.chain``), so no thread wakes between two invokes.
  ``exact_crop=False`` cuts n+1 from n-1's pose instead (n is still on the accelerator): closer to
  the accelerator's limit, but on the real model it found fewer poses (docs/pipeline.md).

A frame that fails (corrupt image, decode error) is counted and skipped; the run goes on. A stop
request takes effect within one frame time, and the capture thread is joined before ``run``
returns.

Other threads never change a stage in place: they queue a :class:`Reconfigure` with
:meth:`Pipeline.request`, and the inference thread applies what is queued between two frames. A
frame is thus estimated, tracked and published with one decoder and one tracker, and each stage
reads its collaborators once per frame.

Several cameras (docs/cameras.md): each camera is a :class:`Lane` with its own capture thread,
slot, estimator, tracker, analysis stage and figures; the one inference thread takes the next frame
from a :class:`~edgepose.pipeline.scheduling.CameraScheduler` (round-robin over the cameras with a frame
ready, optional fps caps) and runs it with its camera's stages on the shared engine. A camera whose
source fails for good ends on its own; the run ends when no camera is left, and then re-raises
the first camera's error. ``max_frames`` counts per camera. One camera is a list of one lane:
there is no other path.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgepose.documents.output import CameraQuiet
from edgepose.documents.poses import Stamp
from edgepose.errors import FrameError, InputError
from edgepose.estimation.estimator import Prepared
from edgepose.frame import Frame
from edgepose.inference.supervisor import Chained, InFlight
from edgepose.pipeline.changes import KEEP, AbandonCamera, AddCamera, Reconfigure, RemoveCamera, Request
from edgepose.pipeline.handoff import END, POLL_S, FrameSlot  # noqa: F401  (FrameSlot: imported from here too)
from edgepose.pipeline.lanes import Analyzing, Lane, Tracking
from edgepose.pipeline.publisher import Publisher, ResultHook
from edgepose.pipeline.scheduling import CameraProgress, CameraScheduler
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.stats import RunStats

log = logging.getLogger(__name__)


JOIN_TIMEOUT_S = 5.0  # how long run() waits for the capture thread to end
MAX_CONSECUTIVE_FAILURES = 1000  # reads failing in a row before a source counts as broken


@runtime_checkable
class StartsInvokes(Protocol):
    """An engine that can run an invoke in the background: what the overlapped schedule needs."""

    def start(self, tensor: np.ndarray, confirm: bool = False) -> InFlight: ...

    def collect(self, flight: InFlight) -> list[np.ndarray]: ...


class ChainsInvokes(StartsInvokes, Protocol):
    """An engine that can also queue an invoke whose input is made from the one before (the exact crop)."""

    def chain(self, previous: InFlight, make: Callable[[list[np.ndarray]], np.ndarray | None]) -> Chained: ...


@dataclass
class _Made:
    """What :meth:`Pipeline._chain`'s worker step made: frame n's rest, frame n+1's input, what failed."""

    rest: Callable[[], FrameResult] | None = None
    prepared: Prepared | None = None
    failed: list[tuple[Frame, FrameError]] = field(default_factory=list)
    error: BaseException | None = None


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
    """A frame on the accelerator: its camera, its input, the invoke, and the tracking stage it will get."""

    lane: Lane
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


class Pipeline:
    """Runs frames from its cameras' sources through their estimators (and trackers) into the sinks.

    ``lanes``: one per camera, in round-robin order (one camera: a list of one); every lane's
    estimator shares the one engine. ``stats``: the run's totals; each lane counts in its camera's
    own figures too (``RunStats.camera``).
    """

    def __init__(
        self,
        lanes: Sequence[Lane],
        sinks: Sequence[Sink],
        stamp: Stamp,
        stats: RunStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        hooks: Sequence[ResultHook] = (),
        slot_size: int = 1,
        overlap: bool = False,
        probe: StageProbe | None = None,
        exact_crop: bool = True,
    ) -> None:
        if not lanes:
            raise ValueError("a pipeline needs at least one camera")
        names = [lane.name for lane in lanes]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must differ: {', '.join(names)}")
        self.publisher = Publisher(sinks, stamp, hooks)
        self.stats = stats or RunStats()
        self.clock = clock
        self.slot_size = slot_size
        self.lanes: list[Lane] = []
        for lane in lanes:
            self._book(lane)
        # Overlap needs an engine that invokes in the background; any other runs serially.
        self.overlap = overlap and isinstance(lanes[0].estimator.engine, StartsInvokes)
        self.probe = probe
        self.exact_crop = exact_crop
        self.ended: Ended | None = None  # why the last run() returned; None while running or after an error
        self._requests: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._wake: Callable[[Any], None] = lambda _future: None
        self._scheduler: CameraScheduler | None = None
        self._restarting: set[str] = set()  # cameras removed to be added back (a restart by a reload)
        self._adding: set[str] = set()  # cameras whose AddCamera is queued (read from other threads)
        self._adding_lock = threading.Lock()
        self._abandoned: list[BaseException] = []  # why cameras' restarts failed, this run
        self._max_frames: int | None = None
        self._deadline: float | None = None

    def _book(self, lane: Lane) -> None:
        """Take ``lane`` in, giving it its camera's figures when it came without."""
        if lane.stats is None:
            lane.stats = self.stats.camera(lane.name)
        self.lanes.append(lane)

    def quiet(self, camera: str) -> None:
        """Camera ``camera`` has delivered no frame for a while (the service's watchdog says so): it
        sees nobody until its next frame. Its count leaves the device's total in the figures, and the
        sinks are told (:class:`~edgepose.documents.output.CameraQuiet`). Any thread."""
        self.stats.quiet_camera(camera)
        self.publisher.send(CameraQuiet(camera))

    def lane(self, name: str) -> Lane | None:
        """The running camera ``name`` (None once removed or never added)."""
        for lane in self.lanes:
            if lane.name == name and not lane.retired:
                return lane
        return None

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras scheduled now, in round-robin order."""
        return tuple(lane.name for lane in self.lanes if not lane.retired)

    def progress(self) -> dict[str, CameraProgress]:
        """Each camera's progress for health and the watchdog (empty while not running)."""
        scheduler = self._scheduler
        return scheduler.progress() if scheduler is not None else {}

    # -- changes from other threads --------------------------------------------------------------

    def request(self, change: Request) -> None:
        """Queue a change from any thread; it applies before the next frame is processed."""
        if isinstance(change, AddCamera):
            with self._adding_lock:
                self._adding.add(change.lane.name)
        self._requests.put(change)
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.wake()  # an idle pipeline applies it now rather than at the next poll

    def apply_requests(self) -> int:
        """Apply the queued changes in order (the inference thread, between frames); how many there were."""
        applied = 0
        while True:
            try:
                change = self._requests.get_nowait()
            except queue.Empty:
                return applied
            if isinstance(change, AddCamera):
                self._add(change.lane)
            elif isinstance(change, RemoveCamera):
                self._remove(change.name, change.done, change.restart)
            elif isinstance(change, AbandonCamera):
                self._restarting.discard(change.name)
                self._abandoned.append(change.error)
            else:
                for lane in self.lanes:
                    if change.camera is None or change.camera == lane.name:
                        self._reconfigure(lane, change)
            applied += 1

    @staticmethod
    def _reconfigure(lane: Lane, change: Reconfigure) -> None:
        if change.decoder is not None:
            lane.estimator.use(change.decoder)
        if change.tracking is not KEEP:
            lane.tracking = change.tracking
        if change.analysis is not KEEP:
            lane.analysis = change.analysis

    def adding(self, name: str) -> bool:
        """Whether an :class:`AddCamera` for ``name`` is queued and not yet applied (any thread)."""
        with self._adding_lock:
            return name in self._adding

    def _add(self, lane: Lane) -> None:
        with self._adding_lock:
            self._adding.discard(lane.name)
        self._restarting.discard(lane.name)
        if self.lane(lane.name) is not None:
            log.error("camera %s is already running; the added one is ignored", lane.name)
            return
        self.lanes = [other for other in self.lanes if other.name != lane.name]  # a failed one's place
        self._book(lane)
        if self._scheduler is not None:
            self._start_lane(lane)
        log.info("camera %s added", lane.name)

    def _remove(self, name: str, done: Callable[[Lane], None] | None, restart: bool = False) -> None:
        lane = self.lane(name)
        if lane is None:
            if name in self._restarting:  # removed while it restarted: it does not come back
                self._restarting.discard(name)
                log.info("camera %s removed", name)
            else:
                log.warning("camera %s is not running; nothing to remove", name)
            return
        self._retire(lane)
        self.lanes.remove(lane)
        if restart:
            self._restarting.add(name)
        log.info("camera %s removed%s", name, " to restart with its new settings" if restart else "")

        def finish() -> None:
            if lane.thread is not None:
                lane.thread.join(JOIN_TIMEOUT_S)
            if done is not None:
                done(lane)

        threading.Thread(target=finish, name=f"edgepose-remove-{name}", daemon=True).start()

    # -- running ---------------------------------------------------------------------------------

    def run(
        self,
        max_frames: int | None = None,
        stop: threading.Event | None = None,
        duration: float | None = None,
    ) -> RunStats:
        """Process frames until every source ends, each camera has ``max_frames`` processed,
        ``duration`` seconds (on the pipeline's clock) have passed, or ``stop`` is set. Re-raises the
        first camera's fatal error once the run has ended by itself (with one camera, also on a stop).
        """
        stop = stop or threading.Event()
        stats = self.stats
        self._restarting.clear()
        self._abandoned.clear()
        self.apply_requests()  # what was queued before the run (a camera added while starting): started below
        scheduler = self._scheduler = CameraScheduler(self.clock)
        self._wake = lambda _future: scheduler.wake()  # an invoke that ends wakes the overlapped loop
        self._max_frames = max_frames
        self.ended = None
        stats.started_mono = self.clock()
        with stats.lock:
            stats.last_progress_mono = stats.started_mono
        self._deadline = stats.started_mono + duration if duration is not None else None
        for lane in self.lanes:
            lane.error, lane.retired = None, False
            lane.halt.clear()
            self._start_lane(lane)
        try:
            loop = self._overlapped if self.overlap else self._serial
            ended = loop(stop)
        finally:
            for lane in self.lanes:
                if not lane.retired:
                    self._retire(lane)
            scheduler.close()
            for lane in self.lanes:
                if lane.thread is not None:
                    lane.thread.join(JOIN_TIMEOUT_S)
                    if lane.thread.is_alive():
                        log.warning(
                            "the capture thread of %s did not end within %.0f s (a read is blocked)",
                            lane.name,
                            JOIN_TIMEOUT_S,
                        )
            self._scheduler = None
        # A camera's own failure was reported when it happened (health, log): raised when the run
        # ended by itself (no camera left, limits), and on a stop request only when no other camera
        # ran beside it (then it is the run's failure, not one camera's).
        errors = [lane.error for lane in self.lanes if lane.error is not None] + self._abandoned
        if errors and (ended is not Ended.STOPPED or (len(self.lanes) == 1 and not self._abandoned)):
            raise errors[0]
        self.ended = ended
        return stats

    def _start_lane(self, lane: Lane) -> None:
        """The camera's slot and capture thread (a finite source is read no further than needed)."""
        assert self._scheduler is not None
        live = lane.source.live
        with lane.stats.lock:
            lane.stats.started_mono = lane.stats.last_progress_mono = self.clock()
        size = (lane.slot_size or self.slot_size) if live else 1
        lane.slot = self._scheduler.add(lane.name, size, drop=live, fps_cap=lane.fps_cap)
        limit = None if live else self._max_frames
        lane.thread = threading.Thread(
            target=self._capture, args=(lane, limit), name=f"edgepose-capture-{lane.name}", daemon=True
        )
        lane.thread.start()

    def _retire(self, lane: Lane) -> None:
        """Stop scheduling a camera: its capture ends, the frames still waiting count as skipped."""
        lane.retired = True
        lane.halt.set()
        if self._scheduler is not None and lane.name in self._scheduler.names:
            left = lane.slot.close() if lane.slot is not None else 0
            if left:
                self._count(lane, "skipped", left)  # captured but never processed: counted, not lost
            self._scheduler.remove(lane.name)
        lane.source.interrupt()

    def _books(self, lane: Lane) -> tuple[RunStats, ...]:
        """Where a camera's timings and frames are recorded: the totals and the camera's own (its
        counters, :meth:`RunStats.count`, reach the totals by themselves)."""
        return (self.stats,) if lane.stats is self.stats else (self.stats, lane.stats)

    @staticmethod
    def _count(lane: Lane, name: str, n: int = 1) -> None:
        lane.stats.count(name, n)

    def _done(self) -> bool:
        """Retire the cameras that reached ``max_frames``; True when none is left to run."""
        limit = self._max_frames
        if limit is not None:
            for lane in self.lanes:
                if not lane.retired and lane.stats.processed >= limit:
                    self._retire(lane)
        return all(lane.retired for lane in self.lanes) and not self._restarting

    def _between_cameras(self, stop: threading.Event) -> bool:
        """No camera to take a frame from, but one is restarting: wait for it (True), rather than end."""
        if not self._restarting:
            return False
        stop.wait(POLL_S)
        self._idle()
        return True

    def _take(self, until: Callable[[], bool] | None = None) -> tuple[Lane, Frame] | type[END] | None:
        """The next frame by the scheduler and its camera; END when no camera is left, None when none is ready."""
        assert self._scheduler is not None
        item = self._scheduler.take(POLL_S, until)
        if item is END or item is None:
            return item  # type: ignore[return-value]
        lane = self.lane(item.camera)  # type: ignore[union-attr]
        if lane is None:  # removed between the scheduler's pick and now
            return None
        return lane, item.frame  # type: ignore[union-attr]

    def _serial(self, stop: threading.Event) -> Ended:
        """One frame at a time: estimate, track, publish, then take the next."""
        deadline = self._deadline
        while not stop.is_set():
            if self._done():
                return Ended.MAX_FRAMES if self._max_frames is not None else Ended.SOURCE
            if deadline is not None and self.clock() >= deadline:
                return Ended.DURATION
            item = self._take()
            if item is END:
                if self._between_cameras(stop):
                    continue
                return Ended.MAX_FRAMES if self._done() and self._max_frames is not None else Ended.SOURCE
            if item is None:
                self._idle()
                continue
            lane, frame = item  # type: ignore[misc]
            self._process(lane, frame)
        return Ended.STOPPED

    def _overlapped(self, stop: threading.Event) -> Ended:
        """Frame n on the accelerator while n+1 is prepared and n-1 is published (see the module's doc).

        At most one frame is in flight. When no newer frame is waiting, the one in flight is
        finished at once rather than held, so a slow camera adds no latency; the frame in flight
        when the run ends (stop, limit, end of source) is finished and published too. The next
        frame may be another camera's: MoveNet's exact crop region waits for the frame in flight
        only when the next one is the same camera's.
        """
        flight: _Flight | None = None
        ended = Ended.STOPPED
        limit = self._max_frames
        deadline = self._deadline
        while not stop.is_set():
            if flight is not None and limit is not None and flight.lane.stats.processed + 1 >= limit:
                self._land(flight, self._collect(flight))  # it may fail: then another frame is due
                flight = None
                continue
            if self._done():
                ended = Ended.MAX_FRAMES if limit is not None else Ended.SOURCE
                break
            if deadline is not None and self.clock() >= deadline:
                ended = Ended.DURATION
                break
            item = self._take(flight.invoke.future.done if flight is not None else None)
            if item is END:
                if flight is not None:  # finish it first: its camera may be the one restarting
                    self._land(flight, self._collect(flight))
                    flight = None
                if self._between_cameras(stop):
                    continue
                ended = Ended.SOURCE
                break
            if item is None:
                if flight is not None:
                    self._land(flight, self._collect(flight))
                    flight = None
                else:
                    self._idle()
                continue
            lane, frame = item  # type: ignore[misc]
            self.apply_requests()  # the frame boundary: applies from the frame taken now
            if lane.retired:  # removed by what was just applied
                self._count(lane, "skipped")
                continue
            if flight is None:
                flight = self._launch(lane, frame)
            elif self._chains(flight, lane, frame):  # n+1's crop region from n, on the worker, then n published
                flight = self._chain(flight, lane, frame)
            elif self._serialised(flight, lane, frame):  # decode n first (n+1's crop region, or a resize)
                outputs = self._collect(flight)
                rest = self._follow(flight, outputs)  # all n+1's cut waits for; the rest of n after its start
                following = self._launch(lane, frame)
                self._track_and_publish(flight, self._complete(flight, rest))
                flight = following
            else:  # cut n+1 while n runs, hand n+1 over, then decode and publish n
                prepared = self._prepare(lane, frame)
                outputs = self._collect(flight)
                following = self._start(lane, prepared)
                self._land(flight, outputs)
                flight = following
        if flight is not None:
            self._land(flight, self._collect(flight))
            flight = None
        return ended

    def _serialised(self, flight: _Flight, lane: Lane, frame: Frame) -> bool:
        """Whether ``frame`` must wait for the frame in flight: the same camera's exact crop region, or
        a dynamic model input to resize on the engine the invoke in flight is using."""
        return lane.estimator.needs_resize(frame) or self._exact_crop_after(flight, lane)

    def _exact_crop_after(self, flight: _Flight, lane: Lane) -> bool:
        """Whether ``lane``'s next cut comes from the frame in flight (the same camera's exact crop region)."""
        return flight.lane is lane and self.exact_crop and flight.continuous and flight.prepared.setup.uses_crop_region

    def _chains(self, flight: _Flight, lane: Lane, frame: Frame) -> bool:
        """Whether ``frame`` is cut on the worker right behind the invoke in flight: the same camera's
        exact crop region on an engine that chains invokes (a resize waits for the engine to be idle).

        The engine's class must define ``chain``: a wrapper that passes other attributes through
        would otherwise hand its inputs to the inner engine unchecked (BlazePose's landmark engine,
        which skips the invoke of a frame without a person, chains with a ``chain`` of its own)."""
        return (
            self._exact_crop_after(flight, lane)
            and callable(getattr(type(lane.estimator.engine), "chain", None))  # its own, not a wrapped one's
            and not lane.estimator.needs_resize(frame)
        )

    def _chain(self, flight: _Flight, lane: Lane, frame: Frame) -> _Flight | None:
        """Frame n+1 cut and begun on the worker as n's invoke returns; n published while n+1 runs.

        The worker decodes n as far as the crop region needs (``follow``), cuts n+1 and invokes it,
        with no thread hand-off between the two invokes. This thread waits for that (GIL released),
        reports what failed on the way, and builds, tracks and publishes n during n+1's invoke.
        """
        engine: ChainsInvokes = lane.estimator.engine  # type: ignore[assignment]
        made = _Made()

        def make(outputs: list[np.ndarray]) -> np.ndarray | None:
            try:
                try:
                    made.rest = lane.estimator.follow(flight.prepared, outputs, flight.invoke.invoke_ms)
                except FrameError as exc:
                    made.failed.append((flight.prepared.frame, exc))
                try:
                    made.prepared = lane.estimator.prepare(frame, continuous=lane.source.continuous)
                except FrameError as exc:
                    made.failed.append((frame, exc))
                    return None
                return made.prepared.tensor
            except BaseException as exc:  # a defect: raised again on this thread, not an engine failure
                made.error = exc
                return None

        chained = engine.chain(flight.invoke, make)
        try:
            engine.collect(flight.invoke)  # the deadline and recovery of n, as unchained
        except FrameError as exc:
            chained.cancel()
            self._failed(lane, flight.prepared.frame, exc)
            return self._launch(lane, frame)
        chained.began.wait()
        if made.error is not None:
            raise made.error
        for failed_frame, exc in made.failed:
            self._failed(lane, failed_frame, exc)
        following = None
        if made.prepared is not None:
            chained.flight.future.add_done_callback(self._wake)
            following = _Flight(
                lane, made.prepared, chained.flight, lane.tracking, lane.source.continuous, lane.analysis
            )
        self._track_and_publish(flight, self._complete(flight, made.rest))
        return following

    def _prepare(self, lane: Lane, frame: Frame) -> Prepared | None:
        """The frame's model input, or None when the frame cannot be prepared (counted as failed)."""
        try:
            return lane.estimator.prepare(frame, continuous=lane.source.continuous)
        except FrameError as exc:
            self._failed(lane, frame, exc)
            return None

    def _start(self, lane: Lane, prepared: Prepared | None) -> _Flight | None:
        """Hand a prepared frame to the accelerator; the tracking stage is fixed for it now."""
        if prepared is None:
            return None
        engine: StartsInvokes = lane.estimator.engine  # type: ignore[assignment]
        invoke = engine.start(prepared.tensor, confirm=True)  # the worker begins before we go on
        invoke.future.add_done_callback(self._wake)
        return _Flight(lane, prepared, invoke, lane.tracking, lane.source.continuous, lane.analysis)

    def _launch(self, lane: Lane, frame: Frame) -> _Flight | None:
        return self._start(lane, self._prepare(lane, frame))

    def _collect(self, flight: _Flight | None) -> list[np.ndarray] | None:
        """The invoke's outputs, or None when it failed and the engine recovered (counted as failed)."""
        if flight is None:
            return None
        engine: StartsInvokes = flight.lane.estimator.engine  # type: ignore[assignment]
        try:
            return engine.collect(flight.invoke)
        except FrameError as exc:
            self._failed(flight.lane, flight.prepared.frame, exc)
            return None

    def _decode(self, flight: _Flight | None, outputs: list[np.ndarray] | None) -> FrameResult | None:
        return self._complete(flight, self._follow(flight, outputs))

    def _follow(self, flight: _Flight | None, outputs: list[np.ndarray] | None) -> Callable[[], FrameResult] | None:
        """Decode a frame far enough for the next one's cut (``PoseEstimator.follow``); None when it failed."""
        if flight is None or outputs is None:
            return None
        try:
            return flight.lane.estimator.follow(flight.prepared, outputs, flight.invoke.invoke_ms)
        except FrameError as exc:
            self._failed(flight.lane, flight.prepared.frame, exc)
            return None

    def _complete(self, flight: _Flight | None, rest: Callable[[], FrameResult] | None) -> FrameResult | None:
        """The rest of a frame's result after :meth:`_follow` (None when that failed, or this does)."""
        if flight is None or rest is None:
            return None
        try:
            return rest()
        except FrameError as exc:
            self._failed(flight.lane, flight.prepared.frame, exc)
            return None

    def _track_and_publish(self, flight: _Flight | None, result: FrameResult | None) -> None:
        if flight is not None and result is not None:
            self._publish(
                flight.lane, flight.prepared.frame, result, flight.tracking, flight.continuous, flight.analysis
            )

    def _land(self, flight: _Flight | None, outputs: list[np.ndarray] | None) -> None:
        """Decode, track and publish a frame whose invoke has returned."""
        self._track_and_publish(flight, self._decode(flight, outputs))

    def _named(self, lane: Lane, text: str) -> str:
        """``text`` as a failure of ``lane``, saying which camera once there is more than one to tell apart."""
        return text if len(self.lanes) == 1 else f"{lane.name}: {text}"

    def _failed(self, lane: Lane, frame: Frame, exc: FrameError) -> None:
        lane.stats.fail(self._named(lane, f"frame {frame.file or frame.index}: {exc.message}"))
        log.warning("%s", self._named(lane, f"frame {frame.index} failed: {exc}"))

    def _capture(self, lane: Lane, limit: int | None) -> None:
        """A camera's capture thread: read, stamp, hand over; never waits on inference for live sources."""
        slot, halt, source = lane.slot, lane.halt, lane.source
        assert slot is not None
        n = failures = 0
        try:
            while not halt.is_set() and (limit is None or n < limit):
                try:
                    frame = source.read()
                except FrameError as exc:
                    lane.stats.fail(self._named(lane, exc.message))
                    failures += 1
                    log.warning("skipped a frame: %s", exc)
                    # A camera's reads may fail for ever; a directory's move on to the next file.
                    if source.fails_in_place and failures >= MAX_CONSECUTIVE_FAILURES:
                        raise InputError(
                            f"source {source.name}: {failures} reads failed in a row", f"last error: {exc}"
                        ) from None
                    continue
                if frame is None:
                    break
                failures = 0
                n += 1
                self._count(lane, "captured")
                dropped = slot.put(frame)
                if dropped:
                    self._count(lane, "skipped", dropped)
        except BaseException as exc:  # handed to run(), which re-raises it in the caller's thread
            lane.error = exc
            if len(self.lanes) > 1:
                log.error("camera %s failed: %s; the other cameras go on", lane.name, getattr(exc, "message", exc))
            slot.fail(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
        finally:
            slot.finish()

    def _idle(self) -> None:
        """Nothing to process: apply queued changes, let the sources that watch themselves check for a stall."""
        self.apply_requests()
        for lane in self.lanes:
            if not lane.retired:
                lane.source.check_stall()

    def _process(self, lane: Lane, frame: Frame, applied: bool = False) -> FrameResult | None:
        if not applied:
            self.apply_requests()  # the frame boundary: what other threads asked for applies from this frame
            if lane.retired:  # removed by what was just applied
                self._count(lane, "skipped")
                return None
        estimator, tracking, continuous = lane.estimator, lane.tracking, lane.source.continuous  # once a frame
        analysis = lane.analysis
        try:
            result = estimator.estimate(frame, continuous=continuous)
        except FrameError as exc:
            self._failed(lane, frame, exc)
            return None
        return self._publish(lane, frame, result, tracking, continuous, analysis)

    def _publish(
        self,
        lane: Lane,
        frame: Frame,
        result: FrameResult,
        tracking: Tracking | None,
        continuous: bool,
        analysis: Analyzing | None = None,
    ) -> FrameResult:
        """Track, analyze, serialize once, hand to every sink and hook, count."""
        clock = self.clock
        t0 = clock()
        if tracking is not None and continuous:
            result = tracking(result)
        ta = clock()
        # The analysis stage after tracking (FrameResult in, FrameResult out); like the tracker it
        # is read once per frame (process, _start) and replaced only through a Reconfigure.
        if analysis is not None:
            result = analysis.apply(result, continuous)
        t1 = clock()
        publisher = self.publisher
        document, events = publisher.document(result, lane.estimator.engine.accelerator, analysis is not None)
        t2 = clock()
        output = publisher.output(frame, result, document, events)
        t3 = clock()
        publisher.deliver(output)
        now = clock()
        if self.probe is not None:
            self.probe(StageTimes((ta - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (now - t3) * 1e3, (t1 - ta) * 1e3))
        t = result.timing
        for stats in self._books(lane):
            stats.preprocess_ms.add(t.preprocess)
            stats.inference_ms.add(t.inference)
            stats.decode_ms.add(t.decode)
            stats.total_ms.add(t.total)
            stats.track_ms.add((ta - t0) * 1e3)
            stats.publish_ms.add((now - t1) * 1e3)
            if lane.source.live:  # capture to output; files read as fast as possible have no capture moment
                stats.latency_ms.add((now - frame.mono) * 1e3)
            with stats.lock:
                stats.processed += 1
                stats.published += 1
                stats.last_progress_mono = now
        lane.stats.see_people(len(result.poses))  # the device's people in view follow (RunStats)
        publisher.notify(output)
        return result
