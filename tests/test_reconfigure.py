"""Reloads while frames run: a change is applied between two frames, never inside one.

The daemon reloads from the main thread while the inference thread is in the middle of a frame.
These tests make a reload land at the worst places inside a frame (between the two reads of the
tracking stage, during ``invoke``) and check that every frame was processed with the decoder and
tracker in effect when it started, and that the run survives a loop of reloads.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest

from edgepose.app import App, build_estimator
from edgepose.config import load_config
from edgepose.documents.poses import Stamp
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Pipeline
from edgepose.service.daemon import Daemon
from edgepose.service.notify import Notifier
from edgepose.service.reload import Reloader, plan_reload
from edgepose.sources.base import Source
from edgepose.stats import RunStats
from edgepose.tracking import make_tracker
from tests.service_kit import spawn, stop_child, wait_until

# The squat image's one person scores about 0.75: seen at the low threshold, filtered at the high one.
LOW, HIGH = 0.1, 0.99
TRACKERS = ("keypoint", "none")


def config_with(tracker: str, min_pose_score: float):
    return load_config(
        None,
        [
            "model.name=movenet_lightning_int8",
            "model.threads=2",
            f"tracking.tracker={tracker}",
            f"decoder.min_pose_score={min_pose_score}",
        ],
        env={},
    )


class ReloadingImages(Source):
    """A continuous, finite source of one image that reloads the daemon every time it is asked
    whether it is continuous (the pipeline asks between its reads of the tracking stage)."""

    live = False
    name = "cam0"

    def __init__(self, image: np.ndarray, frames: int) -> None:
        self.image = image
        self.frames = frames
        self.reads = 0
        self.on_query: Any = None

    @property
    def continuous(self) -> bool:
        if self.on_query is not None:
            self.on_query()
        return True

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.reads >= self.frames:
            return None
        self.reads += 1
        return Frame(self.image, self.reads - 1, self.reads / 25, self.reads / 25, self.name)

    def close(self) -> None:
        pass


class ReloadingEngine:
    """The real engine, with a reload in the middle of every ``invoke`` (the frame in flight)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.on_invoke: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        outputs = self.engine.invoke(tensor)
        if self.on_invoke is not None:
            self.on_invoke()
        return outputs


@pytest.fixture(scope="module")
def loaded_engine():
    return build_estimator(config_with("keypoint", LOW)).estimator.engine


def service(engine: Any, source: Any, initial: tuple[str, float], hooks=()) -> tuple[Daemon, Pipeline]:
    """A daemon over an app whose model and pipeline are already built (no worker thread)."""
    config = config_with(*initial)
    estimator = PoseEstimator(engine, config.decoder, model_name="movenet")
    app = App(config)
    app.loaded = Loaded(estimator, "movenet", config.model.name, "cpu")
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    lane = Lane("cam0", source, estimator, tracking=tracking)
    app.pipeline = Pipeline([lane], [], Stamp("test", "movenet", "cpu"), RunStats(), hooks=list(hooks))
    return Daemon(app, Notifier(env={})), app.pipeline


def expected_settings(initial: tuple[str, float], requests: list[tuple[int, tuple[str, float]]], frames: int):
    """The setting each frame must have seen: the last one asked for before the frame started."""
    out, current, pending = [], initial, list(requests)
    for index in range(frames):
        while pending and pending[0][0] < index:
            current = pending.pop(0)[1]
        out.append(current)
    return out


def seen_setting(document: dict[str, Any]) -> tuple[str, float]:
    poses = document["poses"]
    tracker = "none" if all(p["id"] is None for p in poses) else "keypoint"
    return tracker, LOW if poses else HIGH


def test_a_reload_inside_a_frame_applies_from_the_next_frame(loaded_engine, squat_rgb):
    """Reloads between the two reads of the tracking stage and during invoke: no TypeError, and each
    frame is decoded and tracked wholly with the settings in effect when it started."""
    frames = 24
    documents: list[dict[str, Any]] = []
    engine = ReloadingEngine(loaded_engine)
    source = ReloadingImages(squat_rgb, frames)
    daemon, pipeline = service(engine, source, ("keypoint", LOW), hooks=[lambda f, r, d: documents.append(d)])
    # Two cycles of reloads, one flipping the tracker, one the threshold; each reload sends both.
    state = {"tracker": "keypoint", "score": LOW}
    requests: list[tuple[int, tuple[str, float]]] = []

    def reload(key: str, value: Any) -> None:
        state[key] = value
        setting = (state["tracker"], state["score"])
        requests.append((len(documents), setting))
        daemon.apply(plan_reload(daemon.config, config_with(*setting)))

    flips = {"tracker": 0, "score": 0}

    def flip(key: str, values: tuple[Any, Any]) -> None:
        flips[key] += 1
        reload(key, values[flips[key] % 2])

    source.on_query = lambda: flip("tracker", ("keypoint", "none"))
    engine.on_invoke = lambda: flip("score", (LOW, HIGH))
    stats = pipeline.run()
    assert stats.processed == frames and stats.failed == 0
    assert len(documents) == frames
    expected = expected_settings(("keypoint", LOW), requests, frames)
    # With tracker none a frame without poses cannot show its tracker; compare what a frame shows.
    seen = [seen_setting(d) for d in documents]
    for index, (want, got) in enumerate(zip(expected, seen, strict=True)):
        assert got[1] == want[1], f"frame {index} was decoded with min_pose_score {got[1]}, expected {want[1]}"
        if documents[index]["poses"]:
            assert got[0] == want[0], f"frame {index} was tracked by {got[0]}, expected {want[0]}"


def test_a_loop_of_reloads_from_another_thread_never_stops_the_pipeline(loaded_engine, small_camera):
    """The daemon's main thread reloads as fast as it can while a live camera runs."""
    documents: list[dict[str, Any]] = []
    daemon, pipeline = service(
        loaded_engine, small_camera, ("keypoint", LOW), hooks=[lambda f, r, d: documents.append(d)]
    )
    stop = threading.Event()
    reloads = 0

    def reload_loop() -> None:
        nonlocal reloads
        settings = [("none", LOW), ("keypoint", HIGH), ("bbox", LOW), ("keypoint", LOW)]
        while not stop.is_set():
            daemon.apply(plan_reload(daemon.config, config_with(*settings[reloads % len(settings)])))
            reloads += 1

    runner = threading.Thread(target=reload_loop)
    runner.start()
    try:
        stats = pipeline.run(max_frames=200)
    finally:
        stop.set()
        runner.join()
    assert stats.processed == 200 and stats.failed == 0
    assert reloads > 200  # many reloads landed while frames ran
    for document in documents:  # each frame is wholly tracked or wholly not
        ids = {p["id"] is None for p in document["poses"]}
        assert len(ids) <= 1, document


class Camera(Source):
    """A live camera: a new buffer on every read, no pacing."""

    continuous = True
    live = True
    name = "cam0"

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.reads = 0

    def open(self) -> None:
        pass

    def read(self) -> Frame:
        self.reads += 1
        return Frame(self.image.copy(), self.reads - 1, time.time(), time.monotonic(), self.name)

    def close(self) -> None:
        pass


@pytest.fixture()
def small_camera(squat_rgb: np.ndarray) -> Camera:
    return Camera(np.ascontiguousarray(squat_rgb[:480, :480]))


def test_the_estimator_decodes_a_frame_with_the_setup_it_started_with(loaded_engine, squat_rgb):
    """``use`` while a frame is in ``invoke``: that frame keeps the old decoder, the next gets the new."""
    engine = ReloadingEngine(loaded_engine)
    estimator = PoseEstimator(engine, config_with("none", LOW).decoder, model_name="movenet")
    strict = estimator.setup_for(config_with("none", HIGH).decoder)
    engine.on_invoke = lambda: estimator.use(strict)
    frame = Frame(squat_rgb, 0, 0.0, 0.0)
    assert len(estimator.estimate(frame).poses) == 1  # decoded with min_pose_score 0.1
    engine.on_invoke = None
    assert estimator.estimate(frame).poses == ()  # now 0.99


def test_a_running_service_survives_a_loop_of_sighup_reloads(tmp_path, squat_path):
    """The real thing: ``edgepose run`` on a looping image, its config flipped between tracker none
    and keypoint (and two thresholds) and reloaded with SIGHUP twenty times, waiting for each."""
    config, out = tmp_path / "config.yaml", tmp_path / "poses.jsonl"

    def write(tracker: str, score: float) -> None:
        config.write_text(
            f"sinks: ['jsonl:{out}']\nsource:\n  loop: true\nmodel:\n  threads: 1\n"
            f"tracking:\n  tracker: {tracker}\ndecoder:\n  min_pose_score: {score}\n"
        )

    write("keypoint", LOW)
    proc, stderr = spawn(["-c", str(config), "--source", str(squat_path)], tmp_path)
    try:
        wait_until(lambda: documents(out) >= 3 or proc.poll() is not None, what="the first documents")
        for i in range(20):
            write(("none", "keypoint")[i % 2], (HIGH, LOW)[i % 2])
            proc.send_signal(signal.SIGHUP)
            wait_until(
                lambda n=i + 1: stderr.read_text().count("reloaded the configuration") == n or proc.poll(),
                what=f"reload {i + 1}",
            )
            assert proc.poll() is None, stderr.read_text()
        before = documents(out)
        wait_until(lambda: documents(out) >= before + 3, what="frames after the reloads")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, stderr.read_text()
    finally:
        stop_child(proc)
    log = stderr.read_text()
    assert "Traceback" not in log and "pipeline failed" not in log and "reload failed" not in log, log
    assert log.count("applied decoder.min_pose_score, tracking.tracker") == 20, log  # live, not deferred


def documents(path) -> int:
    """Complete lines written so far."""
    return path.read_text().count("\n") if path.exists() else 0


def test_a_reload_builds_the_tracking_stage_with_the_apps_own_factory(loaded_engine, squat_rgb):
    """The tracker a reload swaps in comes from AppParts.tracking, as the one built at start."""
    daemon, pipeline = service(loaded_engine, ReloadingImages(squat_rgb, 1), ("keypoint", LOW))
    built: list[str] = []
    marker = make_tracker(config_with("bbox", LOW).tracking, 0.2)

    def tracking(config):  # type: ignore[no-untyped-def]
        built.append(config.tracking.tracker)
        return marker

    daemon.app.parts = dataclasses.replace(daemon.app.parts, tracking=tracking)
    daemon.apply(plan_reload(daemon.config, config_with("bbox", LOW)))
    assert pipeline.apply_requests() == 1
    assert built == ["bbox"] and pipeline.lanes[0].tracking is marker


# -- the analysis stage across a reload (no model: poses made by hand) -------------------------------

LEFT = "{name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], enter_after: 0, leave_after: 0}"
WIDE = "{name: left, polygon: [[0, 0], [0.9, 0], [0.9, 1], [0, 1]], enter_after: 0, leave_after: 0}"
RIGHT = "{name: right, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], enter_after: 0, leave_after: 0}"


def analysis_config(*zones: str):  # type: ignore[no-untyped-def]
    return load_config(None, ["analysis.enabled=true", f"analysis.zones=[{', '.join(zones)}]"], env={})


def walkers(i: int, *people: tuple[int, float]):  # type: ignore[no-untyped-def]
    """Frame ``i`` with a standing person (track id, feet x in a 640x480 frame) per entry."""
    from edgepose.keypoints import KP
    from edgepose.pose import FrameResult, Pose

    poses = []
    for track, x in people:
        kp = np.zeros((17, 3), np.float32)
        for name, y in (("left_ankle", 400), ("right_ankle", 400), ("left_hip", 300), ("right_hip", 300)):
            kp[KP[name]] = (x, y, 0.9)
        poses.append(Pose(kp, 0.9, (x - 20, 250, x + 20, 400), track))
    return FrameResult(i, 1.8e9 + i, float(i), 640, 480, "cam0", tuple(poses))


def zone_events(result) -> list[tuple[str, str, int | None]]:  # type: ignore[no-untyped-def]
    return [(e.kind, e.details["zone"], e.track_id) for e in result.analysis.events if e.kind != "zone_count"]


def test_analysis_keys_apply_live_once_the_pipeline_runs():
    old = analysis_config(LEFT)
    new = analysis_config(LEFT, RIGHT)
    assert plan_reload(old, new).applied == ("analysis.zones",)
    deferred = plan_reload(old, new, can_analyze=False)
    assert deferred.restart == ("analysis.zones",) and deferred.config == old


def test_a_rebuilt_stage_takes_over_zone_state_on_its_first_frame():
    """Two reloads before a frame (the second moves 'left' wider and adds 'right'): person 1 stays in
    'left' (no event), person 2, outside the old 'left' but inside the wide one, enters it; 'right'
    starts empty and takes person 2 in."""
    app = App(analysis_config(LEFT))
    app.analyses["cam0"] = stage = app.parts.analysis(app.config, app.stats)
    assert zone_events(stage.apply(walkers(0, (1, 100), (2, 400)))) == [("zone_enter", "left", 1)]
    first = Reloader(app).build_analysis(analysis_config(LEFT))
    app.analyses["cam0"], app.config = first, analysis_config(LEFT)
    second = Reloader(app).build_analysis(analysis_config(WIDE, RIGHT))
    result = stage.apply(walkers(1, (1, 100), (2, 400)))  # the old stage still runs until the swap
    assert zone_events(result) == []
    result = second.apply(walkers(2, (1, 100), (2, 400)))
    assert sorted(zone_events(result)) == [("zone_enter", "left", 2), ("zone_enter", "right", 2)]
    assert {z.zone: z.track_ids for z in result.analysis.zones} == {"left": (1, 2), "right": (2,)}
    result = second.apply(walkers(3, (1, 100)))  # person 2 gone: leaves both, person 1 still in
    assert sorted(zone_events(result)) == [("zone_leave", "left", 2), ("zone_leave", "right", 2)]


def test_a_stage_rebuilt_from_scratch_would_fire_enter_again():
    """What the take-over prevents: a fresh stage sees the person already inside enter once more."""
    config = analysis_config(LEFT)
    fresh = App(config).parts.analysis(config, RunStats())
    assert zone_events(fresh.apply(walkers(5, (1, 100)))) == [("zone_enter", "left", 1)]


def test_the_behaviours_analyzer_is_kept_while_its_settings_stay():
    falls = ["analysis.behaviours.falls.enabled=true"]
    config = load_config(None, ["analysis.enabled=true", f"analysis.zones=[{LEFT}]", *falls], env={})
    app = App(config)
    app.analyses["cam0"] = stage = app.parts.analysis(config, app.stats)
    moved = load_config(None, ["analysis.enabled=true", f"analysis.zones=[{WIDE}]", *falls], env={})
    assert Reloader(app).build_analysis(moved).stage.behaviours is stage.behaviours
    stricter = load_config(None, [*falls, "analysis.enabled=true", "analysis.behaviours.falls.down_for=5"], env={})
    assert Reloader(app).build_analysis(stricter).stage.behaviours is not stage.behaviours
