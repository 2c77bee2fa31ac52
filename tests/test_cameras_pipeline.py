"""Several cameras in one pipeline: documents per camera as if each ran alone, order, fairness,
a camera failing alone, max_frames per camera, per-camera changes, cameras joining and leaving.

The real MoveNet model runs where documents are compared with a single-camera run (the CPU engine
under the real supervisor, serial and overlapped); the scheduling tests use memory sources and the
fixed-latency stand-in, since they count frames and cameras, not poses.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from edgepose.app import App, AppParts, build_estimator, camera_hook
from edgepose.config import load_config
from edgepose.config.sections import DecoderConfig
from edgepose.documents.poses import Stamp
from edgepose.errors import ConfigError, InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine
from edgepose.pipeline.changes import AddCamera, Reconfigure, RemoveCamera
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Ended, Pipeline
from edgepose.pose import FrameResult
from edgepose.sources.base import Source
from edgepose.sources.video import VideoFileSource
from edgepose.stats import RunStats
from edgepose.tools.bench.runner import MemorySource
from edgepose.tracking import make_tracker
from tests.builders.engines import OUT, FakeEngine, row
from tests.builders.pipeline import ListSink, Recorder, cameras_yaml, poses_of, run_app, steady_source, video_clocks

MODEL = "movenet_single_pose_lightning_ptq"
PEOPLE = "posenet_mobilenet_v1_075_353x481"  # multi-person: several tracked ids a frame on the street video


@pytest.mark.parametrize("count", [2, 3])
def test_each_camera_gets_the_documents_it_would_get_alone(tmp_path, walking_video, squat_path, count):
    """Two or three cameras on the real model: each camera's documents (frame numbers in order,
    poses, track ids, smoothing) are those of the same source run alone, so nothing of one camera
    (its tracker, ids, decoder state) leaks into another's."""
    alone_config = load_config(
        None, [f"model.name={PEOPLE}", "model.threads=2", f"source.uri={walking_video}", "source.camera=street"]
    )
    alone, _ = run_app(alone_config, max_frames=6)
    cameras = {"street": str(walking_video), "again": str(walking_video), "squat": str(squat_path)}
    config = load_config(cameras_yaml(tmp_path, dict(list(cameras.items())[:count]), model=PEOPLE))
    documents, app = run_app(config, max_frames=6)

    assert [len(poses_of(documents, c)) for c in list(cameras)[:count]] == [6] * count  # max_frames per camera
    assert poses_of(documents, "street") == poses_of(alone, "street")
    assert poses_of(documents, "again") == poses_of(alone, "street")  # its own tracker and crop region
    assert any(p.get("id") is not None for _, poses in poses_of(documents, "street") for p in poses)
    if count == 3:  # a looped photo: one document per read, no tracking across photos
        assert [n for n, _ in poses_of(documents, "squat")] == list(range(6))
    assert {name: s.processed for name, s in app.stats.cameras.items()} == {c: 6 for c in list(cameras)[:count]}
    assert app.stats.processed == 6 * count


def test_overlapped_cameras_keep_each_exact_crop_region(walking_video):
    """With the invoke in flight while the next frame is prepared, the next frame is the other
    camera's: each camera's crop region is still cut from its own previous pose, so every
    camera's documents equal the serial single-camera ones."""
    config = load_config(None, ["model.name=movenet_lightning_int8", "model.threads=2"])
    source = VideoFileSource(walking_video)
    source.open()
    images = [f.image for f in iter(source.read, None)][:8]
    source.close()

    def documents(lanes: int, overlap: bool) -> ListSink:
        loaded = build_estimator(config)
        sink = ListSink()
        tracker = lambda: make_tracker(config.tracking, config.decoder.min_keypoint_score)  # noqa: E731
        memory = lambda i: MemorySource(images, True, f"cam{i}", limit=len(images), clocks=video_clocks())  # noqa: E731
        built = [
            Lane(f"cam{i}", memory(i), loaded.estimator.sibling(config.decoder), RunStats(), tracker())
            for i in range(lanes)
        ]
        pipeline = Pipeline(built, [sink], Stamp("t", MODEL, "cpu"), overlap=overlap)
        assert pipeline.overlap is overlap
        try:
            pipeline.run()
        finally:
            loaded.estimator.engine.close()
        return sink

    serial = [(d["frame"], d["poses"]) for d in documents(1, overlap=False).documents]
    both = documents(2, overlap=True).documents
    assert len(serial) == len(images)
    for camera in ("cam0", "cam1"):
        assert [(d["frame"], d["poses"]) for d in both if d["camera"] == camera] == serial


class Replay(InferenceEngine):
    """Any engine's stand-in for scheduling tests: invoke returns fixed outputs after ``latency`` s."""

    accelerator = "sleep"

    def __init__(self, outputs: list[np.ndarray], spec: Any, latency: float = 0.0) -> None:
        self.outputs_ = outputs
        self.input = spec.input
        self.outputs = spec.outputs
        self.latency = latency

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self.latency:
            time.sleep(self.latency)
        return [o.copy() for o in self.outputs_]


@pytest.fixture(scope="module")
def replay(walking_video) -> tuple[PoseEstimator, list[np.ndarray]]:
    """An estimator on a replaying engine (the real model's outputs on one frame) and a few frames."""
    config = load_config(None, ["model.name=movenet_lightning_int8", "model.threads=2"])
    loaded = build_estimator(config)
    source = VideoFileSource(walking_video)
    source.open()
    images = [source.read().image for _ in range(3)]  # type: ignore[union-attr]
    source.close()
    engine = loaded.estimator.engine
    outputs = engine.invoke(loaded.estimator.prepare(Frame(images[0], 0, 0.0, 0.0)).tensor)
    estimator = PoseEstimator(Replay(outputs, engine), config.decoder, MODEL)
    engine.close()
    return estimator, images


def lanes_of(replay, sources: dict[str, Source], stats: RunStats | None = None) -> list[Lane]:
    estimator, _ = replay
    stats = stats or RunStats()
    return [
        Lane(name, source, estimator.sibling(estimator.config), stats.camera(name)) for name, source in sources.items()
    ]


def test_cameras_with_frames_ready_take_turns(replay):
    """Round-robin: cameras that always have a frame ready alternate strictly, in config order.
    Structural: after each frame the hook waits until every camera has its next frame in its slot
    (or has read all it will), so on any machine each scan finds every camera ready."""
    _, images = replay
    order: list[str] = []
    stats = RunStats()
    sources = {c: MemorySource(images, True, c, limit=12) for c in ("a", "b", "c")}

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        order.append(frame.camera)
        for _ in range(5000):
            counts = [lane.slot.counts() for lane in pipeline.lanes if lane.slot is not None]
            if all(c.put - c.taken - c.skipped >= 1 or c.put >= 12 for c in counts):
                return
            time.sleep(0.001)

    pipeline = Pipeline(lanes_of(replay, sources, stats), [ListSink()], Stamp("t", MODEL, "sleep"), stats, hooks=[hook])
    pipeline.run(max_frames=12)
    assert order == ["a", "b", "c"] * 12
    assert pipeline.ended is Ended.MAX_FRAMES


class Paced(MemorySource):
    """A live camera: one frame every ``period`` seconds, whether or not it is taken."""

    live = True

    def __init__(self, images: list[np.ndarray], camera: str, period: float) -> None:
        super().__init__(images, True, camera)
        self.period = period
        self._stop = threading.Event()

    def read(self) -> Frame | None:
        if self._stop.wait(self.period):
            return None
        return super().read()

    def interrupt(self) -> None:
        self._stop.set()


def test_a_slow_camera_gets_every_frame_beside_a_fast_one(replay):
    """A camera slower than the engine is never starved: each of its frames is taken at its next
    turn, so none is replaced in its slot, while the fast camera takes what is left (and skips the
    frames it delivers faster than they are taken, counted)."""
    estimator, images = replay
    estimator.engine.latency = 0.004  # type: ignore[attr-defined]
    stats = RunStats()
    sources = {"fast": Paced(images, "fast", 0.0005), "slow": Paced(images, "slow", 0.1)}
    stop = threading.Event()
    processed: dict[str, int] = {"fast": 0, "slow": 0}

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        processed[frame.camera] += 1
        if processed["slow"] >= 8:
            stop.set()

    pipeline = Pipeline(lanes_of(replay, sources, stats), [ListSink()], Stamp("t", MODEL, "sleep"), stats, hooks=[hook])
    try:
        pipeline.run(stop=stop, duration=30.0)
    finally:
        estimator.engine.latency = 0.0  # type: ignore[attr-defined]
    slow, fast = stats.cameras["slow"], stats.cameras["fast"]
    assert slow.processed >= 8 and slow.skipped <= 1  # at most the frame waiting when the run stopped
    assert fast.processed > slow.processed and fast.skipped > 0
    assert stats.skipped == slow.skipped + fast.skipped and stats.processed == slow.processed + fast.processed


class Broken(MemorySource):
    """A camera that fails for good after ``good`` frames (its source gives up)."""

    def __init__(self, images: list[np.ndarray], camera: str, good: int) -> None:
        super().__init__(images, True, camera)
        self.good = good

    def read(self) -> Frame | None:
        if self._count >= self.good:
            raise InputError(f"camera {self.camera} went away")
        return super().read()


def test_a_failing_camera_ends_alone_and_the_run_says_so(replay):
    """One camera's source fails for good: the others run to their end, the failure is in the
    camera's progress (health), and the run re-raises it once every camera is done."""
    _, images = replay
    stats = RunStats()
    sources = {
        "good": MemorySource(images, True, "good", limit=10),
        "bad": Broken(images, "bad", 2),
        "also": MemorySource(images, True, "also", limit=10),
    }
    sink = ListSink()
    seen: list[dict[str, Any]] = []
    pipeline = Pipeline(
        lanes_of(replay, sources, stats),
        [sink],
        Stamp("t", MODEL, "sleep"),
        stats,
        hooks=[lambda f, r, d: seen.append(dict(pipeline.progress()))],
    )
    with pytest.raises(InputError, match="camera bad went away"):
        pipeline.run()
    frames = {c: [d["frame"] for d in sink.documents if d["camera"] == c] for c in sources}
    assert frames == {"good": list(range(10)), "bad": [0, 1], "also": list(range(10))}
    assert any(p["bad"].error == "camera bad went away" for p in seen)


def test_max_frames_counts_per_camera(replay):
    """Each file camera stops after max_frames documents of its own; a shorter one ends first."""
    _, images = replay
    stats = RunStats()
    sources = {
        "long": MemorySource(images, True, "long", limit=50),
        "short": MemorySource(images, True, "short", limit=2),
    }
    sink = ListSink()
    pipeline = Pipeline(lanes_of(replay, sources, stats), [sink], Stamp("t", MODEL, "sleep"), stats)
    pipeline.run(max_frames=5)
    assert [d["frame"] for d in sink.documents if d["camera"] == "long"] == list(range(5))
    assert [d["frame"] for d in sink.documents if d["camera"] == "short"] == [0, 1]


def test_a_change_for_one_camera_leaves_the_others_alone(replay):
    _, images = replay
    stats = RunStats()
    sources = {"a": MemorySource(images, True, "a", limit=6), "b": MemorySource(images, True, "b", limit=6)}
    lanes = lanes_of(replay, sources, stats)
    kept, new = Recorder(), Recorder()
    lanes[0].tracking = lanes[1].tracking = kept  # one object noting both cameras until the change
    pipeline = Pipeline(lanes, [ListSink()], Stamp("t", MODEL, "sleep"), stats)

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        if frame.camera == "b" and frame.index == 1:
            pipeline.request(Reconfigure(tracking=new, camera="b"))

    pipeline.publisher.hooks.append(hook)
    pipeline.run()
    assert new.cameras == ["b"] * 4  # b's frames 2..5
    assert kept.cameras.count("a") == 6 and kept.cameras.count("b") == 2


def test_cameras_join_and_leave_a_running_pipeline(replay):
    """An added camera starts at its frame 0 and is scheduled from the next frame on; a removed one
    stops, its capture thread ends and ``done`` gets its lane; the others see no gap."""
    estimator, images = replay
    stats = RunStats()
    sources = {"a": MemorySource(images, True, "a", limit=30), "b": MemorySource(images, True, "b", limit=30)}
    sink = ListSink()
    pipeline = Pipeline(lanes_of(replay, sources, stats), [sink], Stamp("t", MODEL, "sleep"), stats)
    removed: list[Lane] = []
    done = threading.Event()

    def on_removed(lane: Lane) -> None:
        removed.append(lane)
        done.set()

    def hook(frame: Frame, result: FrameResult, document: dict) -> None:
        if frame.camera == "a" and frame.index == 5:
            c = MemorySource(images, True, "c", limit=10)
            pipeline.request(AddCamera(Lane("c", c, estimator.sibling(estimator.config), stats.camera("c"))))
        if frame.camera == "a" and frame.index == 10:
            pipeline.request(RemoveCamera("b", on_removed))

    pipeline.publisher.hooks.append(hook)
    pipeline.run()
    frames = {c: [d["frame"] for d in sink.documents if d["camera"] == c] for c in "abc"}
    assert frames["a"] == list(range(30)) and frames["c"] == list(range(10))
    assert frames["b"] == list(range(len(frames["b"]))) and len(frames["b"]) < 30
    order = [(d["camera"], d["frame"]) for d in sink.documents]
    # Both apply at the next frame boundary (the serial schedule): c after a's frame 5, no b after a's 10.
    assert order.index(("c", 0)) > order.index(("a", 5))
    assert max(i for i, (camera, _) in enumerate(order) if camera == "b") < order.index(("a", 10))
    assert done.wait(10) and [lane.name for lane in removed] == ["b"]
    assert removed[0].thread is not None and not removed[0].thread.is_alive()
    assert [lane.name for lane in pipeline.lanes] == ["a", "c"]  # b left; after the run none is scheduled
    assert pipeline.cameras == ()


class CheckedEngine(FakeEngine):
    """A dynamic-input engine that notes every invoke whose tensor does not fit its input (LiteRT raises)."""

    def __init__(self) -> None:
        super().__init__([row(0.25, 0.25, 0.75, 0.75, 0.9)])
        self.misfits: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        if tuple(tensor.shape) != tuple(self.input.shape):
            self.misfits.append((tuple(tensor.shape), tuple(self.input.shape)))
        return super().invoke(tensor)


def test_cameras_of_different_sizes_share_a_dynamic_input_engine():
    """MoveNet MultiPose resizes the engine's input to the frame: with two cameras of different
    sizes on one engine, each frame is invoked at its own size (each estimator checks the engine's
    size, not only the one it set last)."""
    engine = CheckedEngine()
    first = PoseEstimator(engine, DecoderConfig(multipose_long_side=256))
    second = first.sibling(first.config)
    wide = Frame(np.zeros((720, 1280, 3), np.uint8), 0, 0.0, 0.0, "wide")
    square = Frame(np.zeros((480, 480, 3), np.uint8), 0, 0.0, 0.0, "square")
    assert OUT in engine.outputs
    for _ in range(2):
        first.estimate(wide)
        assert second.needs_resize(square) and not first.needs_resize(wide)
        second.estimate(square)
    assert engine.misfits == []
    assert engine.resized == [(1, 160, 256, 3), (1, 256, 256, 3)] * 2


def test_the_preview_shows_one_camera(tmp_path, walking_video, squat_path):
    """The preview page shows one camera's frames (service.preview.camera, else the first); a camera
    that is not configured is refused at load."""
    seen: list[str] = []
    hook = camera_hook("b", lambda frame, result, document: seen.append(frame.camera))
    for camera in ("a", "b", "a", "b"):
        hook(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, 0.0, camera), None, {})  # type: ignore[arg-type]
    assert seen == ["b", "b"]
    path = cameras_yaml(tmp_path, {"a": str(walking_video), "b": str(squat_path)}, "service: {preview: {camera: c}}")
    with pytest.raises(ConfigError, match=r"service\.preview\.camera: 'c' is not one of the cameras"):
        load_config(path)


def test_every_camera_publishes_on_its_own_topics_on_a_real_broker(tmp_path, walking_video, squat_path):
    """The daemon's run with two cameras and the MQTT sink on a real Mosquitto: each camera's
    poses on ``<prefix>/<camera>/poses``, all of them, in frame order; ``meta`` lists both cameras
    and their topics; the device's count is the sum of the cameras' latest counts."""
    import json

    from tests.mosquitto import Collector, Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    try:
        collector = Collector(broker, ["edgepose/testpi/#"])
        mqtt = f"mqtt: {{host: 127.0.0.1, port: {broker.port}, qos_poses: 1}}"
        path = cameras_yaml(
            tmp_path,
            {"street": str(walking_video), "squat": str(squat_path)},
            "device_id: testpi",
            "sinks: [mqtt]",
            mqtt,
        )
        text = path.read_text(encoding="utf-8").replace("sinks: [stdout]\n", "", 1)
        path.write_text(text, encoding="utf-8")
        config = load_config(path)
        app = App(config, AppParts(source=steady_source))
        app.start()
        try:
            app.run(max_frames=5)
        finally:
            app.stop()  # the sink sends what is queued before it disconnects
        frames = {
            c: [json.loads(m.payload)["frame"] for m in collector.on(f"edgepose/testpi/{c}/poses")]
            for c in ("street", "squat")
        }
        assert frames == {"street": list(range(5)), "squat": list(range(5))}
        meta = json.loads(collector.on("edgepose/testpi/meta")[-1].payload)
        assert meta["cameras"] == ["street", "squat"]
        assert meta["topics"]["cameras"]["squat"]["poses"] == "edgepose/testpi/squat/poses"
        last = {c: int(collector.on(f"edgepose/testpi/{c}/count")[-1].payload) for c in ("street", "squat")}
        assert int(collector.on("edgepose/testpi/count")[-1].payload) == sum(last.values())
    finally:
        broker.stop()


def test_a_camera_added_before_the_run_starts_with_the_others(replay):
    """A reload while the daemon starts queues its camera before the pipeline runs: it is started
    once, with the others (not twice, which the scheduler refuses)."""
    estimator, images = replay
    stats = RunStats()
    sink = ListSink()
    pipeline = Pipeline(
        lanes_of(replay, {"a": MemorySource(images, True, "a", limit=3)}, stats),
        [sink],
        Stamp("t", MODEL, "sleep"),
        stats,
    )
    late = MemorySource(images, True, "late", limit=3)
    pipeline.request(AddCamera(Lane("late", late, estimator.sibling(estimator.config), stats.camera("late"))))
    pipeline.run()
    got = sorted((d["camera"], d["frame"]) for d in sink.documents)
    assert got == [(c, n) for c in ("a", "late") for n in range(3)]
