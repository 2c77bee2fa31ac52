"""Several cameras, one engine: which camera's frame the inference thread takes next.

Each camera keeps the hand-off of the single-camera pipeline, its own :class:`CameraSlot` (a
:class:`~edgepose.pipeline.handoff.FrameSlot`: newest frame for a live camera, back-pressure for a file),
filled by its own capture thread. The :class:`CameraScheduler` is the one place the inference
thread waits: :meth:`CameraScheduler.take` returns the next frame by round-robin over the cameras
with a frame ready, so a fast camera cannot starve a slow one, and a camera with an fps cap is not
picked again before ``1 / cap`` seconds (on the injected clock) have passed since it was last
taken. A slot tells the scheduler's one condition when a frame arrives or its source ends, so the
waiter sleeps until there is something to take (or ``timeout``), never spins.

The scheduler also keeps what health and the watchdog need per camera: frames put, taken and
skipped (taken + skipped = put once a slot is closed), when a frame last arrived and was last
taken, and whether the source ended or failed. :func:`assess` turns that into a verdict: which
cameras are unhealthy and why, and whether any camera makes progress (docs/cameras.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgepose.frame import Frame
from edgepose.pipeline.handoff import END, POLL_S, FrameSlot

WAITING = "frames arrive but none processed"  # a stall of the engine or the scheduler, not of the camera


@dataclass(frozen=True, slots=True)
class CameraCounts:
    """Frames of one camera: handed over by capture, taken by inference, dropped unprocessed."""

    put: int
    taken: int
    skipped: int  # replaced in the slot before being taken, refused after close, or left at close


@dataclass(frozen=True, slots=True)
class CameraProgress:
    """What health needs to know of one camera, times on the scheduler's clock."""

    name: str
    added: float  # when the camera joined: the grace period of a camera that never delivered starts here
    last_put: float | None  # the last frame capture handed over (None: none yet)
    last_taken: float | None  # the last frame inference took (None: none yet)
    ended: bool  # its source ended or failed: it is no longer picked
    error: str  # why it failed ('' when it ended normally or is running)


@dataclass(frozen=True, slots=True)
class Taken:
    """The frame :meth:`CameraScheduler.take` chose, and the camera it is from."""

    camera: str
    frame: Frame


class CameraSlot(FrameSlot):
    """A camera's :class:`FrameSlot` that counts its frames and wakes the scheduler on every change.

    The capture thread uses it like any slot (``put``, ``finish``); ``fail`` ends it with a reason
    health reports. ``notify`` is called after the slot's own lock is released, so the scheduler
    can look into slots while holding its condition without a lock-order deadlock.
    """

    def __init__(
        self,
        name: str,
        capacity: int = 1,
        drop: bool = True,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity, drop)
        self.name = name
        self.notify = notify
        self.clock = clock
        self._lock = threading.Lock()
        self._put = self._taken = self._skipped = 0
        self.last_put: float | None = None
        self.error = ""

    def put(self, frame: Frame) -> int:
        dropped = super().put(frame)
        with self._lock:
            self._put += 1
            self._skipped += dropped
            self.last_put = self.clock()
        self.notify()
        return dropped

    def finish(self) -> None:
        super().finish()
        self.notify()

    def fail(self, reason: str) -> None:
        """The source failed for good (its own retries gave up): record why, then end the slot."""
        self.error = reason or "failed"
        self.finish()

    def close(self) -> int:
        left = super().close()
        with self._lock:
            self._skipped += left
        self.notify()
        return left

    @property
    def finished(self) -> bool:
        """The producer is done (the source ended or failed); frames may still be waiting."""
        return self._finished

    def took(self) -> None:
        with self._lock:
            self._taken += 1

    def counts(self) -> CameraCounts:
        with self._lock:
            return CameraCounts(self._put, self._taken, self._skipped)


@dataclass(slots=True)
class _Camera:
    slot: CameraSlot
    period: float  # 1 / fps cap, 0 without a cap
    added: float
    last_taken: float | None = None
    ended: bool = False


class CameraScheduler:
    """Round-robin over the cameras with a frame ready, with optional per-camera fps caps.

    Only the inference thread calls :meth:`take`; cameras may be added or removed from any thread
    (a reload). ``clock`` times the caps and the progress; ``poll`` bounds how long a wait goes
    without looking at ``until`` or a cap again.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, poll: float = POLL_S) -> None:
        self.clock = clock
        self.poll = poll
        self._cond = threading.Condition()
        self._cameras: dict[str, _Camera] = {}  # in the order they were added: the round-robin order
        self._next = 0  # where the next scan starts in that order: just after the camera picked last
        self._closed = False

    def add(self, name: str, capacity: int = 1, drop: bool = True, fps_cap: float | None = None) -> CameraSlot:
        """A new camera's slot, for its capture thread to fill. ``fps_cap``: at most that many frames a second."""
        if fps_cap is not None and fps_cap <= 0:
            raise ValueError(f"camera {name}: fps cap must be positive, got {fps_cap}")
        slot = CameraSlot(name, capacity, drop, self.wake, self.clock)
        with self._cond:
            if name in self._cameras:
                raise ValueError(f"camera {name} is already scheduled")
            if self._closed:
                slot.close()
            self._cameras[name] = _Camera(slot, 1.0 / fps_cap if fps_cap else 0.0, self.clock())
            self._cond.notify_all()
        return slot

    def remove(self, name: str) -> CameraCounts:
        """Stop scheduling ``name``; its slot is closed (frames still waiting count as skipped)."""
        with self._cond:
            order = list(self._cameras)
            index = order.index(name)  # ValueError for an unknown camera
            camera = self._cameras.pop(name)
            if index < self._next:
                self._next -= 1
        camera.slot.close()
        return camera.slot.counts()

    @property
    def names(self) -> tuple[str, ...]:
        with self._cond:
            return tuple(self._cameras)

    def slot(self, name: str) -> CameraSlot:
        with self._cond:
            return self._cameras[name].slot

    def take(self, timeout: float, until: Callable[[], bool] | None = None) -> Taken | type[END] | None:
        """The next frame by round-robin, ``END`` when no camera is left running, None on timeout.

        ``until``: also return None as soon as it is true (looked at on every :meth:`wake` and at
        least every ``poll``), as :meth:`FrameSlot.get` does for the overlapped schedule.
        """
        budget_end = time.monotonic() + timeout  # the wait itself is in real seconds, like Condition.wait
        with self._cond:
            while True:
                if self._closed:
                    return END
                picked, wait = self._scan()
                if picked is not None:
                    return picked
                if all(c.ended for c in self._cameras.values()):
                    return END
                if until is not None and until():
                    return None
                left = budget_end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, self.poll, wait))

    def _scan(self) -> tuple[Taken | None, float]:
        """One pass from ``_next``: the first camera due with a frame; else how long until a cap allows one."""
        cameras = list(self._cameras.values())
        now = self.clock()
        wait = self.poll
        for step in range(len(cameras)):
            index = (self._next + step) % len(cameras)
            camera = cameras[index]
            if camera.ended:
                continue
            if camera.period and camera.last_taken is not None:
                due = camera.last_taken + camera.period
                if now < due:
                    wait = min(wait, due - now)
                    continue
            item = camera.slot.get(0)
            if item is END:
                camera.ended = True
                continue
            if item is None:
                continue
            camera.slot.took()
            camera.last_taken = now
            self._next = index + 1
            return Taken(camera.slot.name, item), wait  # type: ignore[arg-type]
        return None, wait

    def wake(self) -> None:
        """Make a waiting :meth:`take` look again (a slot changed, ``until`` may be true, stop)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> dict[str, CameraCounts]:
        """No more frames: every slot is closed (waiting frames count as skipped), ``take`` returns END."""
        with self._cond:
            self._closed = True
            slots = [c.slot for c in self._cameras.values()]
            self._cond.notify_all()
        for slot in slots:
            slot.close()
        return self.counts()

    def counts(self) -> dict[str, CameraCounts]:
        with self._cond:
            slots = [c.slot for c in self._cameras.values()]
        return {slot.name: slot.counts() for slot in slots}

    def progress(self) -> dict[str, CameraProgress]:
        """Each camera's progress now; a slot that finished counts as ended even before ``take`` saw it."""
        with self._cond:
            return {name: self._progress_of(name, c) for name, c in self._cameras.items()}

    @staticmethod
    def _progress_of(name: str, c: _Camera) -> CameraProgress:
        return CameraProgress(name, c.added, c.slot.last_put, c.last_taken, c.ended or c.slot.finished, c.slot.error)


@dataclass(frozen=True, slots=True)
class Assessment:
    """The cameras' state for health and the watchdog (see :func:`assess`)."""

    progressing: tuple[str, ...]  # took a frame within the window
    unhealthy: Mapping[str, str]  # camera -> why (stalled or failed)
    ended: tuple[str, ...]  # sources that ended normally (files): neither progressing nor unhealthy


def assess(progress: Mapping[str, CameraProgress], now: float, window: float) -> Assessment:
    """Which cameras progress, which are unhealthy and why, from :meth:`CameraScheduler.progress`.

    A camera progresses when inference took one of its frames within ``window`` seconds of
    ``now`` (health uses ``source.stall_timeout``, the watchdog its own interval). A camera that
    has taken nothing yet is judged from when it was added: within the window it is neither
    progressing nor unhealthy (it is starting), so a camera added by a reload cannot keep the
    watchdog fed while the others hang. A stalled camera is told apart by cause: frames stopped
    arriving (the camera) or arrive but are not taken (the scheduler or the engine).
    """
    progressing: list[str] = []
    unhealthy: dict[str, str] = {}
    ended: list[str] = []
    for name, p in progress.items():
        if p.error:
            unhealthy[name] = f"source failed: {p.error}"
            continue
        if p.ended:
            ended.append(name)
            continue
        since_taken = now - (p.last_taken if p.last_taken is not None else p.added)
        if since_taken <= window:
            if p.last_taken is not None:
                progressing.append(name)
            continue
        since_put = now - (p.last_put if p.last_put is not None else p.added)
        if since_put > window:
            unhealthy[name] = f"no frame from the camera for {since_put:.1f} s"
        else:
            unhealthy[name] = f"{WAITING} for {since_taken:.1f} s"
    return Assessment(tuple(progressing), unhealthy, tuple(ended))
