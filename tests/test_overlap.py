"""The overlapped pipeline: same documents as serial, order, drops, stop, hung invokes, reloads.

The accelerator is the fixed-latency stand-in (``edgepose.inference.standin``) replaying the real
MoveNet model's outputs on walking-crowd frames, under the real supervisor, so every stage around
the invoke is the project's own code and only the invoke's duration is made up.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from edgepose.app import build_estimator
from edgepose.config import load_config
from edgepose.documents.poses import Stamp
from edgepose.errors import ConfigError, FrameError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.standin import Recording, RecordingEngine, SleepEngine, parse_sleep
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy
from edgepose.pipeline.changes import Reconfigure
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Ended, Pipeline, StageTimes, overlap_for
from edgepose.pose import FrameResult
from edgepose.sources.video import VideoFileSource
from edgepose.stats import RunStats
from edgepose.tools.bench.runner import MemorySource
from edgepose.tracking import make_tracker
from tests.builders.pipeline import ListSink, Recorder, video_clocks

FAST = SupervisorPolicy(invoke_timeout=0.3, load_timeout=10.0, max_failures=3, backoff=0.01, backoff_max=0.02)


class LiveSource(MemorySource):
    """The same frames offered as a live camera, one every ``period`` seconds."""

    live = True

    def __init__(self, images: list[np.ndarray], period: float) -> None:
        super().__init__(images, continuous=True)
        self.period = period

    def read(self) -> Frame | None:
        time.sleep(self.period)
        return super().read()


@pytest.fixture(scope="module")
def config():
    return load_config(None, ["model.name=movenet_lightning_int8", "model.threads=2"])


@pytest.fixture(scope="module")
def frames(walking_video) -> list[np.ndarray]:
    source = VideoFileSource(walking_video)
    source.open()
    images = []
    while len(images) < 12 and (frame := source.read()) is not None:
        images.append(frame.image)
    source.close()
    return images


@pytest.fixture(scope="module")
def recording(config, frames) -> Recording:
    """The real model's outputs on the frames as one video (through MoveNet's crop region)."""
    recorder = RecordingEngine(build_estimator(config).estimator.engine)
    estimator = PoseEstimator(recorder, config.decoder, "movenet_single_pose_lightning_ptq")
    for n, image in enumerate(frames):
        estimator.estimate(Frame(image, n, 0.0, 0.0, "cam0"), continuous=True)
    return recorder.recording()


def standin(config, recording: Recording, latency: float = 0.002, hang_at: int | None = None) -> PoseEstimator:
    """A supervised stand-in engine; ``hang_at``: the invoke (0-based) that never returns in time."""

    class Hanging(SleepEngine):
        calls = 0

        def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
            Hanging.calls += 1
            if hang_at is not None and Hanging.calls == hang_at + 1:
                time.sleep(FAST.invoke_timeout * 3)
            return super().invoke(tensor)

    engine = SupervisedEngine(lambda: Hanging(recording, latency), "sleep", FAST)
    return PoseEstimator(engine, config.decoder, "movenet_single_pose_lightning_ptq")


def pipeline(config, estimator, source, overlap: bool, **extra: Any) -> tuple[Pipeline, ListSink]:
    sink = ListSink()
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    stamp = Stamp("test", "movenet_single_pose_lightning_ptq", "sleep")
    lane = Lane("cam0", source, estimator, tracking=tracking)
    made = Pipeline([lane], [sink], stamp, RunStats(), overlap=overlap, **extra)
    return made, sink


def without_timing(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in d.items() if k != "timing_ms"} for d in documents]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("sleep:7ms", 0.007),  # the Coral's MoveNet Lightning figure
        ("sleep:250us", 0.00025),
        ("sleep:1.5s", 1.5),
    ],
)
def test_parse_sleep(text, seconds):
    assert parse_sleep(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["sleep", "sleep:7", "sleep:7min", "real", "sleep:-1ms"])
def test_parse_sleep_refuses(text):
    with pytest.raises(ConfigError):
        parse_sleep(text)


def test_sleep_engine_replays_the_recording_in_order_and_sleeps(recording):
    slept: list[float] = []
    engine = SleepEngine(recording, 0.007, sleep=slept.append)
    tensor = np.zeros(recording.input.shape, recording.input.dtype)
    n = len(recording.frames)
    outputs = [engine.invoke(tensor) for _ in range(n + 2)]
    assert slept == [0.007] * (n + 2)
    for k, out in enumerate(outputs):
        assert all(np.array_equal(a, b) for a, b in zip(out, recording.frames[k % n], strict=True))


@pytest.mark.parametrize(
    ("mode", "accelerator", "expected"),
    [
        ("auto", "edgetpu", True),  # the invoke runs on its own silicon: Python hides behind it
        ("auto", "sleep", True),  # the benchmark's stand-in behaves like the Edge TPU
        ("auto", "cpu", False),  # XNNPACK's threads and Python share the cores (measured)
        ("on", "cpu", True),
        ("off", "edgetpu", False),
    ],
)
def test_overlap_for(mode, accelerator, expected):
    assert overlap_for(mode, accelerator) is expected


def test_overlapped_publishes_what_serial_publishes(config, recording, frames):
    """Every frame, in order, with the same poses, ids and crop regions as the serial schedule."""
    runs = []
    for overlap in (False, True):
        source = MemorySource(frames, True, clocks=video_clocks())
        made, sink = pipeline(config, standin(config, recording), source, overlap)
        assert made.overlap is overlap
        made.run(max_frames=len(frames))
        runs.append(without_timing(sink.documents))
    assert [d["frame"] for d in runs[1]] == list(range(len(frames)))
    assert runs[1] == runs[0]


def test_overlapped_with_late_crop_keeps_every_frame_in_order(config, recording, frames):
    made, sink = pipeline(config, standin(config, recording), MemorySource(frames, True), True, exact_crop=False)
    stats = made.run(max_frames=2 * len(frames))
    assert [d["frame"] for d in sink.documents] == list(range(2 * len(frames)))
    assert made.ended is Ended.MAX_FRAMES and stats.processed == stats.published == 2 * len(frames)


def test_live_source_faster_than_the_accelerator_counts_what_it_drops(config, recording, frames):
    """Latest-frame semantics hold: nothing queues; every captured frame is processed or skipped."""
    made, sink = pipeline(config, standin(config, recording, latency=0.02), LiveSource(frames, 0.002), True)
    stats = made.run(max_frames=15)
    assert stats.processed == 15 and stats.skipped > 0
    assert stats.captured == stats.processed + stats.skipped
    indices = [d["frame"] for d in sink.documents]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)


def test_stop_ends_the_run_after_the_frame_in_flight(config, recording, frames):
    stop = threading.Event()
    seen: list[int] = []

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        seen.append(frame.index)
        if len(seen) == 5:
            stop.set()

    made, _ = pipeline(config, standin(config, recording), MemorySource(frames, True, limit=10**6), True)
    made.publisher.hooks.append(hook)
    made.run(stop=stop)
    assert made.ended is Ended.STOPPED
    assert seen == list(range(len(seen))) and len(seen) in (5, 6)  # at most the one frame in flight more
    assert not [t for t in threading.enumerate() if t.name.startswith("edgepose-capture-")]


def test_a_hung_invoke_costs_its_frame_and_the_run_goes_on(config, recording, frames):
    estimator = standin(config, recording, hang_at=3)
    made, sink = pipeline(config, estimator, MemorySource(frames, True), True)
    stats = made.run(max_frames=10)  # a file-like source is read no further than max_frames
    assert stats.failed == 1 and "did not finish within" in stats.failures[0]
    assert stats.processed == 9 and estimator.engine.rebuilds == 1
    assert [d["frame"] for d in sink.documents] == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_a_reload_applies_from_the_next_frame_taken(config, recording, frames):
    """A tracking change queued while a frame is in flight: each frame is tracked by one stage, the
    old one up to the change and the new one from the next frame taken from the slot on."""
    made, _ = pipeline(config, standin(config, recording), MemorySource(frames, True), True)
    old, new = Recorder(), Recorder()
    made.lanes[0].tracking = old

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        if frame.index == 4:
            made.request(Reconfigure(tracking=new))

    made.publisher.hooks.append(hook)
    made.run(max_frames=len(frames))
    assert old.frames + new.frames == list(range(len(frames)))
    assert 5 <= len(old.frames) <= 6  # 4 and the frame already in flight when 4 was published


def test_the_probe_sees_every_published_frame(config, recording, frames):
    seen: list[StageTimes] = []
    made, _ = pipeline(config, standin(config, recording), MemorySource(frames, True), True, probe=seen.append)
    made.run(max_frames=6)
    assert len(seen) == 6 and all(s.track >= 0 and s.document > 0 and s.encode > 0 for s in seen)


def test_an_engine_without_background_invokes_runs_serially(config, recording, frames):
    engine = SleepEngine(recording, 0.001)
    made, sink = pipeline(config, PoseEstimator(engine, config.decoder, "m"), MemorySource(frames, True), True)
    assert made.overlap is False
    made.run(max_frames=3)
    assert [d["frame"] for d in sink.documents] == [0, 1, 2]


def test_the_exact_crop_starts_the_next_invoke_before_the_rest_of_the_frame(config, recording, frames):
    """Between two invokes only the decode and the crop region wait: the frame's result is built after
    the next invoke has begun (the crop region still comes from the frame before, as serially)."""
    events: list[tuple[str, int]] = []

    class Logging(SleepEngine):
        def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
            events.append(("invoke", self._next))  # the k-th invoke: frame k (no frame fails here)
            return super().invoke(tensor)

    engine = SupervisedEngine(lambda: Logging(recording, 0.002), "sleep", FAST)
    estimator = PoseEstimator(engine, config.decoder, "movenet_single_pose_lightning_ptq")
    complete = estimator._complete

    def logged(prepared: Any, *args: Any) -> FrameResult:
        events.append(("result", prepared.frame.index))
        return complete(prepared, *args)

    estimator._complete = logged  # type: ignore[method-assign]
    made, sink = pipeline(config, estimator, MemorySource(frames, True), True)
    made.run(max_frames=len(frames))
    assert [d["frame"] for d in sink.documents] == list(range(len(frames)))
    for n in range(len(frames) - 1):  # the last frame has no next invoke to wait for
        assert events.index(("invoke", n + 1)) < events.index(("result", n)), events


def threads_that_cut(config, estimator: PoseEstimator, frames: list[np.ndarray]) -> list[str]:
    """Run every frame overlapped (all published, in order) and name the thread each frame was cut on."""
    cut_on: list[str] = []
    prepare = estimator.prepare

    def logged(frame: Frame, continuous: bool = False) -> Any:
        cut_on.append(threading.current_thread().name)
        return prepare(frame, continuous)

    estimator.prepare = logged  # type: ignore[method-assign]
    made, sink = pipeline(config, estimator, MemorySource(frames, True), True)
    assert made.overlap is True
    made.run(max_frames=len(frames))
    assert [d["frame"] for d in sink.documents] == list(range(len(frames)))
    return cut_on


def test_the_exact_crop_cuts_the_next_frame_on_the_worker_without_a_hand_off(config, recording, frames):
    """Frame n+1 is cut on the accelerator's worker the moment n's invoke returns: no thread wakes
    between two invokes. The documents are the serial schedule's (see the first test)."""
    cut_on = threads_that_cut(config, standin(config, recording), frames)
    assert cut_on[0] == threading.current_thread().name  # the first frame: nothing runs before it
    assert all(name.startswith("edgepose-sleep-") for name in cut_on[1:]), cut_on


@pytest.mark.parametrize("stage", ["follow", "prepare"])
def test_a_frame_failing_on_the_worker_is_counted_and_the_run_goes_on(config, recording, frames, stage):
    estimator = standin(config, recording)
    original = getattr(estimator, stage)

    def failing(prepared_or_frame: Any, *args: Any, **kwargs: Any) -> Any:
        frame = prepared_or_frame if stage == "prepare" else prepared_or_frame.frame
        if frame.index == 4:
            raise FrameError("frame 4 cannot be used")
        return original(prepared_or_frame, *args, **kwargs)

    setattr(estimator, stage, failing)
    made, sink = pipeline(config, estimator, MemorySource(frames, True), True)
    stats = made.run(max_frames=len(frames))
    assert stats.failed == 1 and "frame 4 cannot be used" in stats.failures[0]
    assert [d["frame"] for d in sink.documents] == [n for n in range(len(frames)) if n != 4]


def test_an_engine_wrapping_a_chaining_one_is_not_chained(config, recording, frames):
    """A wrapper that passes attributes through to the supervised engine but decides itself whether
    a frame is invoked (BlazePose's landmark engine without a ``chain`` of its own): chaining past
    it would invoke what it would have skipped."""
    from edgepose.estimation.blazepose import BackgroundLandmarkEngine

    inner = standin(config, recording).engine
    estimator = PoseEstimator(BackgroundLandmarkEngine(inner), config.decoder, "movenet_single_pose_lightning_ptq")
    assert set(threads_that_cut(config, estimator, frames)) == {threading.current_thread().name}


def test_the_exact_crop_cuts_the_next_frame_before_the_pose_is_built(config, recording, frames):
    """Between two invokes only the followed keypoints are decoded: frame n's pose, its box and its
    checks are built after frame n+1's invoke has begun."""
    events: list[tuple[str, int]] = []

    class Logging(SleepEngine):
        def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
            events.append(("invoke", self._next))
            return super().invoke(tensor)

    engine = SupervisedEngine(lambda: Logging(recording, 0.002), "sleep", FAST)
    estimator = PoseEstimator(engine, config.decoder, "movenet_single_pose_lightning_ptq")
    decoder = estimator.setup.decoder
    decoded_from = decoder.decoded_from
    built: list[int] = []

    def logged(keypoints: np.ndarray) -> Any:
        events.append(("pose", len(built)))
        built.append(1)
        return decoded_from(keypoints)

    decoder.decoded_from = logged  # type: ignore[method-assign]
    made, sink = pipeline(config, estimator, MemorySource(frames, True), True)
    made.run(max_frames=len(frames))
    assert [d["frame"] for d in sink.documents] == list(range(len(frames)))
    for n in range(len(frames) - 1):
        assert events.index(("invoke", n + 1)) < events.index(("pose", n)), events
