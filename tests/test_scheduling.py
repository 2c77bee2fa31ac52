"""Several cameras, one engine: round-robin, caps, ended cameras, stop, counts and progress.

Time is simulated: :class:`SimClock` is the scheduler's clock and the cameras' too. Each camera is
a thread that puts a frame whenever the simulated time reaches its next frame, and
:meth:`SimClock.advance` returns only once every camera has put the frames due by then, so what
the scheduler sees after each step does not depend on how the threads were scheduled.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import numpy as np
import pytest

from edgepose.frame import Frame
from edgepose.pipeline.runner import END
from edgepose.pipeline.scheduling import CameraProgress, CameraScheduler, CameraSlot, Taken, assess

JOIN_S = 30.0  # generous: only a hang reaches it
IMAGE = np.zeros((2, 2, 3), np.uint8)


def frame(camera: str, index: int) -> Frame:
    return Frame(IMAGE, index, 0.0, 0.0, camera)


class SimClock:
    """Simulated seconds; cameras wait on it, and ``advance`` waits until they have caught up."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cond = threading.Condition()
        self.due: dict[str, float] = {}  # each camera's next frame time
        self.stopped = False

    def __call__(self) -> float:
        with self.cond:
            return self.now

    def advance(self, dt: float) -> None:
        with self.cond:
            self.now += dt
            self.cond.notify_all()
            caught_up = self.cond.wait_for(lambda: all(t > self.now for t in self.due.values()), JOIN_S)
        assert caught_up, "a camera thread did not keep up with the simulated clock"

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


class Camera(threading.Thread):
    """Puts a frame into ``slot`` every ``period`` simulated seconds (from ``period``), ``limit`` of them."""

    def __init__(self, clock: SimClock, slot: CameraSlot, period: float, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.clock, self.slot, self.period, self.limit = clock, slot, period, limit
        self.sent = 0
        with clock.cond:
            clock.due[slot.name] = period

    def run(self) -> None:
        clock = self.clock
        while self.limit is None or self.sent < self.limit:
            with clock.cond:
                due = clock.due[self.slot.name]
                clock.cond.wait_for(lambda: clock.now >= due or clock.stopped)  # noqa: B023
                if clock.stopped:
                    return
            self.slot.put(frame(self.slot.name, self.sent))
            self.sent += 1
            with clock.cond:
                clock.due[self.slot.name] = due + self.period
                clock.cond.notify_all()
        with clock.cond:
            clock.due[self.slot.name] = float("inf")  # done: advance no longer waits for it
            clock.cond.notify_all()
        self.slot.finish()


def simulate(
    clock: SimClock,
    scheduler: CameraScheduler,
    until: float,
    invoke_s: float = 0.007,
    idle_s: float = 0.001,
    times: list[tuple[float, str]] | None = None,
) -> list[Taken]:
    """The inference thread on simulated time: a taken frame costs ``invoke_s``, nothing ready ``idle_s``.

    ``times``: gets (simulated time, camera) of every take.
    """
    taken: list[Taken] = []
    while clock() < until:
        now = clock()
        item = scheduler.take(0)
        if isinstance(item, Taken):
            taken.append(item)
            if times is not None:
                times.append((now, item.camera))
            clock.advance(invoke_s)
        else:
            clock.advance(idle_s)
    return taken


def start_cameras(
    clock: SimClock, scheduler: CameraScheduler, periods: dict[str, float], caps: dict[str, float] | None = None
) -> list[Camera]:
    cameras = [
        Camera(clock, scheduler.add(name, fps_cap=(caps or {}).get(name)), period) for name, period in periods.items()
    ]
    for camera in cameras:
        camera.start()
    return cameras


def stop_cameras(clock: SimClock, scheduler: CameraScheduler, cameras: list[Camera]) -> None:
    clock.stop()
    scheduler.close()
    for camera in cameras:
        camera.join(JOIN_S)
        assert not camera.is_alive()


def test_round_robin_over_cameras_with_a_frame_ready() -> None:
    scheduler = CameraScheduler()
    for name in ("a", "b", "c"):
        slot = scheduler.add(name, capacity=3)
        for i in range(3):
            slot.put(frame(name, i))
    order = [scheduler.take(0) for _ in range(9)]
    assert [(t.camera, t.frame.index) for t in order if isinstance(t, Taken)] == [
        (name, i) for i in range(3) for name in ("a", "b", "c")
    ]
    assert scheduler.take(0) is None  # nothing left, the sources still running


def test_a_camera_without_a_frame_is_passed_over_and_picked_again_when_it_has_one() -> None:
    scheduler = CameraScheduler()
    a, b, c = (scheduler.add(name, capacity=4) for name in ("a", "b", "c"))
    for i in range(2):
        a.put(frame("a", i))
        c.put(frame("c", i))
    picked = [scheduler.take(0) for _ in range(2)]
    assert [t.camera for t in picked if isinstance(t, Taken)] == ["a", "c"]
    b.put(frame("b", 0))
    picked = [scheduler.take(0) for _ in range(2)]
    assert [t.camera for t in picked if isinstance(t, Taken)] == ["a", "b"]  # after c comes a, then b
    assert isinstance(item := scheduler.take(0), Taken) and item.camera == "c"


def test_a_slow_camera_is_never_starved_by_a_fast_one() -> None:
    clock = SimClock()
    scheduler = CameraScheduler(clock)
    cameras = start_cameras(clock, scheduler, {"fast": 0.002, "slow": 0.05})  # 500 fps and 20 fps
    taken = simulate(clock, scheduler, until=2.0)
    stop_cameras(clock, scheduler, cameras)
    counts = scheduler.counts()
    by_camera = Counter(t.camera for t in taken)
    assert counts["slow"].put == 40
    assert by_camera["slow"] >= 39  # every frame (the last may be put after the last take)
    assert counts["slow"].skipped == counts["slow"].put - by_camera["slow"] <= 1
    # The engine (7 ms a frame) is never idle while the fast camera has a frame: it gets the rest.
    assert by_camera["fast"] + by_camera["slow"] == len(taken) >= int(2.0 / 0.007) - 1
    assert [t.frame.index for t in taken if t.camera == "slow"] == list(range(by_camera["slow"]))


def test_an_fps_cap_holds_a_fast_camera_to_it_and_the_slow_one_still_gets_every_frame() -> None:
    clock = SimClock()
    scheduler = CameraScheduler(clock)
    cameras = start_cameras(clock, scheduler, {"fast": 0.002, "slow": 0.05}, caps={"fast": 30.0})
    times: list[tuple[float, str]] = []
    taken = simulate(clock, scheduler, until=2.0, times=times)
    stop_cameras(clock, scheduler, cameras)
    fast = [t for t, camera in times if camera == "fast"]
    assert 0.8 * 2.0 * 30 <= len(fast) <= 2.0 * 30 + 1
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(fast))  # never sooner than the cap
    assert Counter(t.camera for t in taken)["slow"] >= 39


def test_a_camera_whose_source_ended_or_failed_is_no_longer_picked_while_the_others_go_on() -> None:
    scheduler = CameraScheduler()
    slots = {name: scheduler.add(name, capacity=1, drop=False) for name in ("a", "b", "c")}

    def feed(name: str, n: int, fail: str = "") -> None:
        for i in range(n):
            slots[name].put(frame(name, i))  # back-pressure: waits until taken
        if fail:
            slots[name].fail(fail)
        else:
            slots[name].finish()

    threads = [
        threading.Thread(target=feed, args=args, daemon=True)
        for args in (("a", 20), ("b", 3, "device unplugged"), ("c", 10))
    ]
    for t in threads:
        t.start()
    taken: list[Taken] = []
    while (item := scheduler.take(JOIN_S)) is not END:
        assert isinstance(item, Taken), "take timed out with frames still coming"
        taken.append(item)
        if len(taken) > 100:
            raise AssertionError("END never came")
    for t in threads:
        t.join(JOIN_S)
    for name, n in (("a", 20), ("b", 3), ("c", 10)):
        assert [t.frame.index for t in taken if t.camera == name] == list(range(n))  # all, in order
    progress = scheduler.progress()
    assert progress["b"].ended and progress["b"].error == "device unplugged"
    assert progress["a"].ended and progress["a"].error == ""
    verdict = assess(progress, now=progress["a"].last_taken or 0.0, window=10.0)
    assert verdict.unhealthy == {"b": "source failed: device unplugged"}
    assert set(verdict.ended) == {"a", "c"}


def test_ended_cameras_are_skipped_in_the_rotation() -> None:
    scheduler = CameraScheduler()
    a, b, c = (scheduler.add(name, capacity=4) for name in ("a", "b", "c"))
    b.finish()
    for i in range(3):
        a.put(frame("a", i))
        c.put(frame("c", i))
    picked = [scheduler.take(0) for _ in range(6)]
    assert [t.camera for t in picked if isinstance(t, Taken)] == ["a", "c"] * 3
    assert scheduler.progress()["b"].ended and not scheduler.progress()["a"].ended
    a.finish()
    c.finish()
    assert scheduler.take(0) is END


def test_wake_ends_the_wait_at_once() -> None:
    scheduler = CameraScheduler(poll=3600.0)  # a wait that only a wake can end
    scheduler.add("a")
    stop = threading.Event()
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(scheduler.take(3600.0, until=stop.is_set)), daemon=True)
    waiter.start()
    stop.set()
    scheduler.wake()
    waiter.join(JOIN_S)
    assert not waiter.is_alive() and results == [None]


def test_stop_is_seen_within_one_poll_without_a_wake() -> None:
    scheduler = CameraScheduler(poll=0.05)
    scheduler.add("a")
    stop = threading.Event()
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(scheduler.take(3600.0, until=stop.is_set)), daemon=True)
    waiter.start()
    stop.set()
    waiter.join(JOIN_S)
    assert not waiter.is_alive() and results == [None]


def test_close_ends_a_waiting_take() -> None:
    scheduler = CameraScheduler(poll=3600.0)
    scheduler.add("a")
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(scheduler.take(3600.0)), daemon=True)
    waiter.start()
    scheduler.close()
    waiter.join(JOIN_S)
    assert results == [END]


def test_a_frame_put_wakes_the_waiter() -> None:
    scheduler = CameraScheduler(poll=3600.0)
    slot = scheduler.add("a")
    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(scheduler.take(3600.0)), daemon=True)
    waiter.start()
    slot.put(frame("a", 7))
    waiter.join(JOIN_S)
    assert len(results) == 1 and isinstance(results[0], Taken) and results[0].frame.index == 7


def test_taken_and_skipped_add_up_to_put_for_every_camera() -> None:
    clock = SimClock()
    scheduler = CameraScheduler(clock)
    cameras = start_cameras(clock, scheduler, {"fast": 0.001, "mid": 0.01, "slow": 0.1}, caps={"mid": 50.0})
    taken = simulate(clock, scheduler, until=1.0, invoke_s=0.02)  # 50 fps engine, 1110 fps offered
    stop_cameras(clock, scheduler, cameras)  # closes the slots: waiting frames count as skipped
    by_camera = Counter(t.camera for t in taken)
    late = scheduler.slot("fast").put(frame("fast", 10**6))  # after close: refused, counted
    assert late == 1
    for name, counts in scheduler.counts().items():
        assert counts.taken == by_camera[name]
        assert counts.taken + counts.skipped == counts.put, name
    assert scheduler.counts()["fast"].skipped > 0  # the engine could not keep up with it


def test_remove_keeps_the_rotation_going_and_counts_what_was_waiting() -> None:
    scheduler = CameraScheduler()
    slots = {name: scheduler.add(name, capacity=4) for name in ("a", "b", "c")}
    for name, slot in slots.items():
        for i in range(2):
            slot.put(frame(name, i))
    assert isinstance(first := scheduler.take(0), Taken) and first.camera == "a"
    counts = scheduler.remove("a")
    assert (counts.put, counts.taken, counts.skipped) == (2, 1, 1)
    picked = [scheduler.take(0) for _ in range(4)]
    assert [t.camera for t in picked if isinstance(t, Taken)] == ["b", "c", "b", "c"]
    scheduler.add("a")  # a reload may bring it back under the same name
    assert scheduler.names == ("b", "c", "a")


def test_bad_cameras_are_refused() -> None:
    scheduler = CameraScheduler()
    scheduler.add("a")
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.add("a")
    with pytest.raises(ValueError, match="fps cap must be positive"):
        scheduler.add("b", fps_cap=0)


def test_progress_records_when_each_camera_last_delivered_and_was_taken() -> None:
    clock = SimClock()
    scheduler = CameraScheduler(clock)
    a = scheduler.add("a")
    scheduler.add("b")
    clock.advance(1.0)
    a.put(frame("a", 0))
    clock.advance(0.5)
    assert isinstance(scheduler.take(0), Taken)
    progress = scheduler.progress()
    assert (progress["a"].added, progress["a"].last_put, progress["a"].last_taken) == (0.0, 1.0, 1.5)
    assert (progress["b"].last_put, progress["b"].last_taken) == (None, None)
    verdict = assess(progress, now=11.0, window=10.0)
    assert verdict.progressing == ("a",)
    assert verdict.unhealthy == {"b": "no frame from the camera for 11.0 s"}
    later = assess(progress, now=11.6, window=10.0)
    assert later.progressing == () and later.unhealthy["a"] == "no frame from the camera for 10.6 s"
    clock.advance(9.0)
    a.put(frame("a", 1))  # a delivers at 10.5, but nothing takes it: starved, not stalled
    clock.advance(1.3)
    assert assess(scheduler.progress(), now=clock(), window=10.0).unhealthy["a"] == (
        "frames arrive but none processed for 10.3 s"
    )


def p(
    name: str = "cam",
    added: float = 0.0,
    put: float | None = None,
    taken: float | None = None,
    ended: bool = False,
    error: str = "",
) -> CameraProgress:
    return CameraProgress(name, added, put, taken, ended, error)


@pytest.mark.parametrize(
    ("camera", "progressing", "unhealthy"),
    [
        (p(put=99.0, taken=95.0), True, None),  # taken within the window
        (p(added=95.0), False, None),  # just added, nothing yet: starting, neither
        (p(put=80.0, taken=80.0), False, "no frame from the camera for 20.0 s"),  # the camera stopped
        (p(put=99.5, taken=80.0), False, "frames arrive but none processed for 20.0 s"),  # starved or hung
        (p(added=50.0), False, "no frame from the camera for 50.0 s"),  # never delivered
        (p(put=99.0, taken=99.0, ended=True, error="gone"), False, "source failed: gone"),  # failed for good
        (p(put=10.0, taken=10.0, ended=True), False, None),  # a file that ended: not unhealthy
    ],
)
def test_assess_one_camera(camera: CameraProgress, progressing: bool, unhealthy: str | None) -> None:
    verdict = assess({"cam": camera}, now=100.0, window=10.0)
    assert bool(verdict.progressing) is progressing
    assert verdict.unhealthy.get("cam") == unhealthy


def test_the_watchdog_may_ping_while_any_camera_makes_progress() -> None:
    cameras = {"a": p("a", put=99.0, taken=99.0), "b": p("b", put=10.0, taken=10.0)}
    verdict = assess(cameras, now=100.0, window=5.0)
    assert verdict.progressing == ("a",) and set(verdict.unhealthy) == {"b"}
    stalled = assess(cameras, now=200.0, window=5.0)
    assert stalled.progressing == () and set(stalled.unhealthy) == {"a", "b"}


def test_a_frame_ready_wins_over_until_and_a_capped_camera_waits_for_its_turn() -> None:
    clock = SimClock()
    scheduler = CameraScheduler(clock)
    slot = scheduler.add("a", capacity=2, fps_cap=10.0)
    slot.put(frame("a", 0))
    slot.put(frame("a", 1))
    first = scheduler.take(0, until=lambda: True)  # like FrameSlot.get: a waiting frame is returned
    assert isinstance(first, Taken) and first.frame.index == 0
    clock.advance(0.099)
    assert scheduler.take(0) is None  # 0.1 s between two frames of a 10 fps camera
    clock.advance(0.002)
    second = scheduler.take(0)
    assert isinstance(second, Taken) and second.frame.index == 1
