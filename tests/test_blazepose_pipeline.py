"""BlazePose in the daemon: documents, meta, tracking, the app's estimator factory, video, the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import Config, DecoderConfig, TrackingConfig
from edgepose.decode.blazepose.landmarks import LANDMARK_NAMES
from edgepose.documents.meta import meta_document
from edgepose.documents.poses import Stamp, encode, pose_entries, to_document
from edgepose.errors import EX_NOINPUT
from edgepose.estimation.blazepose import BlazePoseEstimator, DetectorMissingError, PoseDetector, find_detector
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.pose import FrameResult, Pose
from edgepose.tracking import make_tracker
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents, validate_document
from tests.builders.engines import model_free_loaded
from tests.builders.pipeline import video_frames

cv2 = pytest.importorskip("cv2")


def blaze_pose(rng: np.random.Generator, x: float, world: bool = True) -> Pose:
    landmarks = np.c_[rng.uniform(x, x + 80, (33, 2)), rng.normal(0, 20, 33), rng.uniform(0, 1, 33)]
    landmarks = landmarks.astype(np.float32)
    keypoints = np.ascontiguousarray(
        landmarks[[0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]][:, [0, 1, 3]]
    )
    w = rng.normal(0, 0.3, (33, 3)).astype(np.float32) if world else None
    return Pose(keypoints, 0.9, (x, 0.0, x + 80, 80.0), landmarks=landmarks, world=w)


def result_of(*poses: Pose, mono: float = 0.0) -> FrameResult:
    return FrameResult(0, 1.0, mono, 640, 480, "cam0", tuple(poses))


# -- documents and meta ------------------------------------------------------------------------


@pytest.mark.parametrize("people", [1, 2])  # one pose is written number by number, several as arrays
def test_documents_carry_landmarks_and_world_after_keypoints(people: int) -> None:
    rng = np.random.default_rng(1)
    poses = [blaze_pose(rng, 100.0 * i) for i in range(people)]
    document = to_document(result_of(*poses), Stamp("dev", "pose_landmark_full", "cpu"))
    validate_document(document)
    for entry, pose in zip(document["poses"], poses, strict=True):
        assert list(entry) == ["id", "score", "box", "keypoints", "landmarks", "world"]
        np.testing.assert_allclose(entry["landmarks"], pose.landmarks, atol=0.006)
        np.testing.assert_allclose(entry["world"], pose.world, atol=6e-5)
    assert json.loads(encode(document)) == document


def test_documents_of_other_models_are_unchanged_and_world_is_optional() -> None:
    rng = np.random.default_rng(2)
    plain = Pose(np.zeros((17, 3), np.float32), 0.5, (0.0, 0.0, 1.0, 1.0))
    no_world = blaze_pose(rng, 0.0, world=False)
    entries = pose_entries([plain, no_world])
    assert list(entries[0]) == ["id", "score", "box", "keypoints"]
    assert list(entries[1]) == ["id", "score", "box", "keypoints", "landmarks"]


def test_a_nan_landmark_never_reaches_a_document() -> None:
    pose = blaze_pose(np.random.default_rng(3), 0.0)
    pose.landmarks[5, 2] = np.nan
    with pytest.raises(ValueError, match="landmarks"):
        to_document(result_of(pose), Stamp("dev", "m", "cpu"))


def test_schema_refuses_landmarks_of_the_wrong_shape() -> None:
    import jsonschema

    document = to_document(result_of(blaze_pose(np.random.default_rng(4), 0.0)), Stamp("dev", "m", "cpu"))
    document["poses"][0]["landmarks"] = document["poses"][0]["landmarks"][:17]
    with pytest.raises(jsonschema.ValidationError):
        validate_document(document)


def test_meta_names_the_landmarks_for_blazepose_only(models_dir: Path) -> None:
    blaze = meta_document(
        Config(device_id="dev"), model_free_loaded(models_dir / "pose_landmark_full.tflite", "blazepose")
    )
    validate_document(blaze, "meta.v1.json")
    assert blaze["landmarks"] == list(LANDMARK_NAMES) and len(blaze["landmarks"]) == 33
    assert all(0 <= i < 33 and 0 <= j < 33 for i, j in blaze["landmark_skeleton"])
    other = meta_document(
        Config(device_id="dev"), model_free_loaded(models_dir / "movenet_single_pose_lightning_ptq.tflite")
    )
    assert "landmarks" not in other and "landmark_skeleton" not in other


# -- tracking ----------------------------------------------------------------------------------


@pytest.mark.parametrize("smoothing", [True, False])
def test_tracking_keeps_each_persons_landmarks_with_them(smoothing: bool) -> None:
    rng = np.random.default_rng(5)
    stage = make_tracker(TrackingConfig(smoothing=smoothing))
    left, right = blaze_pose(rng, 0.0), blaze_pose(rng, 300.0)
    first = stage(result_of(left, right, mono=0.0))
    moved = [dataclasses.replace(p, keypoints=p.keypoints + np.float32([2, 1, 0])) for p in (right, left)]
    second = stage(result_of(*moved, mono=0.04))  # the same people, listed the other way round
    ids = {p.landmarks.ctypes.data: p.id for p in first.poses}
    for pose, source in zip(second.poses, moved, strict=True):
        assert pose.landmarks is source.landmarks and pose.world is source.world
        assert ids[pose.landmarks.ctypes.data] == pose.id  # the same track as in the first frame


# -- the estimator on frames -------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> PoseDetector:
    from edgepose.estimation.blazepose import open_detector

    return open_detector(models_dir / "pose_detection.tflite", threads=2)


@pytest.fixture(scope="module")
def lite(models_dir: Path, detector: PoseDetector) -> BlazePoseEstimator:
    engine = LiteRtEngine(read_model(models_dir / "pose_landmark_lite.tflite"), 2)
    return BlazePoseEstimator(engine, detector, DecoderConfig(), "pose_landmark_lite")


def run_video(estimator: BlazePoseEstimator, frames: list[np.ndarray]) -> tuple[list[bool], list[bool]]:
    """Per frame: whether the detector ran, whether a pose was found."""
    estimator.reset()
    ran, found = [], []
    for n, rgb in enumerate(frames):
        before = estimator.detector.invokes
        result = estimator.estimate(Frame(rgb, n, 0.0, n / 25), continuous=True)
        ran.append(estimator.detector.invokes - before == 1)
        found.append(bool(result.poses))
    return ran, found


def test_on_video_the_detector_runs_only_when_tracking_is_lost(lite: BlazePoseEstimator, walking_video: Path) -> None:
    # A corner of the walking crowd, where a person is large enough for BlazePose to follow.
    frames = video_frames(walking_video, 40, crop=(0, 120, 240))
    ran, found = run_video(lite, frames)
    assert ran[0]
    assert ran[1:] == [not had for had in found[:-1]]  # the detector runs exactly after a frame without a pose
    assert sum(found) >= 30 and sum(ran) <= 5  # and the region is carried most of the time


def test_a_person_who_leaves_is_found_again_by_the_detector(lite: BlazePoseEstimator, squat_rgb: np.ndarray) -> None:
    grey = np.full_like(squat_rgb, 128)
    shifted = [np.roll(squat_rgb, 3 * n, axis=1) for n in range(4)]
    frames = [*shifted, grey, grey, grey, *shifted]
    ran, found = run_video(lite, frames)
    assert found == [True] * 4 + [False] * 3 + [True] * 4
    assert ran == [True, False, False, False, False, True, True, True, False, False, False]


def test_video_frames_after_the_first_match_still_images_closely(lite: BlazePoseEstimator, squat_rgb) -> None:
    lite.reset()
    still = lite.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses[0]
    lite.estimate(Frame(squat_rgb, 0, 0.0, 0.0), continuous=True)
    carried = lite.estimate(Frame(squat_rgb, 1, 0.0, 0.04), continuous=True).poses[0]  # region from landmarks
    assert np.hypot(*(carried.landmarks[:, :2] - still.landmarks[:, :2]).T).mean() < 5.0


# -- finding the detector, and the CLI ---------------------------------------------------------


def test_detector_is_found_beside_the_model_then_in_the_model_dirs(tmp_path: Path, models_dir: Path) -> None:
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "pose_detection.tflite").write_bytes(b"")
    assert find_detector(beside / "pose_landmark_full.tflite", "", [models_dir]) == beside / "pose_detection.tflite"
    assert find_detector(tmp_path / "x.tflite", "", [models_dir]) == models_dir / "pose_detection.tflite"
    with pytest.raises(DetectorMissingError, match=r"pose_detection\.tflite"):
        find_detector(tmp_path / "x.tflite", "", [tmp_path])


def test_cli_runs_blazepose_on_an_image(squat_path: Path) -> None:
    for model in ("pose_landmark_full.tflite", "pose_landmark_lite.tflite"):
        done = run_cli("run", "--model", model, "--source", str(squat_path), "--threads", "2")
        assert done.returncode == 0, done.stderr
        (doc,) = parse_documents(done.stdout)
        (pose,) = doc["poses"]
        assert len(pose["landmarks"]) == 33 and len(pose["world"]) == 33
        assert pose["keypoints"][0][:2] == pose["landmarks"][0][:2]  # the nose is landmark 0
        assert "format blazepose" in done.stderr


def test_cli_without_the_detector_says_what_is_missing(tmp_path: Path, models_dir: Path, squat_path: Path) -> None:
    alone = tmp_path / "models"
    alone.mkdir()
    shutil.copy(models_dir / "pose_landmark_lite.tflite", alone)
    done = run_cli(
        "run",
        "--model",
        str(alone / "pose_landmark_lite.tflite"),
        "--source",
        str(squat_path),
        "--set",
        f"model.cache_dir={tmp_path / 'cache'}",
        env={"EDGEPOSE_MODEL_DIRS": str(alone)},
    )
    assert done.returncode == EX_NOINPUT
    assert "pose_detection.tflite" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("overlap", ["off", "on"])  # the serial schedule; the overlapped one (start/collect)
def test_cli_on_video_runs_the_detector_only_when_tracking_is_lost(
    overlap: str, tmp_path: Path, walking_video: Path
) -> None:
    clip = tmp_path / "corner.avi"
    corner = video_frames(walking_video, 24, crop=(0, 120, 240))
    grey = np.full_like(corner[0], 128)
    frames = [*corner[:12], grey, grey, grey, grey, *corner[12:]]  # the person leaves for 4 frames
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (240, 240))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    args = ["--model", "pose_landmark_lite.tflite", "--source", str(clip), "--threads", "2"]
    settings = ["--set", "tracking.tracker=none", "--set", f"model.overlap={overlap}"]
    done = run_cli("run", "-v", *args, *settings)
    assert done.returncode == 0, done.stderr
    docs = parse_documents(done.stdout)
    assert len(docs) == len(frames)
    detected = {int(m) for m in re.findall(r"frame (\d+): the person detector ran", done.stderr)}
    without = {d["frame"] + 1 for d in docs if not d["poses"]}
    assert detected == ({0} | without) - {len(frames)}
    assert {13, 14, 15, 16} <= detected and len(detected) < 10  # lost when the person left, found again


def test_inspect_names_blazepose_and_its_ignored_segmentation(models_dir: Path) -> None:
    from edgepose.modelstore.info import inspect_model

    for name in ("pose_landmark_lite", "pose_landmark_full"):
        info = inspect_model(models_dir / f"{name}.tflite")
        assert (info.format, info.decoder) == ("blazepose", True)
        (ignored,) = info.ignored  # the segmentation mask [1, 256, 256, 1]
        assert [o.shape for o in info.outputs if o.name == ignored] == [(1, 256, 256, 1)]
    detector = inspect_model(models_dir / "pose_detection.tflite")
    assert (detector.format, detector.decoder) == ("blazepose_detector", False)  # a first stage, not a model to run


def test_model_detector_names_the_detector(tmp_path: Path, models_dir: Path, squat_path: Path) -> None:
    alone, elsewhere = tmp_path / "models", tmp_path / "elsewhere"
    alone.mkdir()
    elsewhere.mkdir()
    shutil.copy(models_dir / "pose_landmark_lite.tflite", alone)
    shutil.copy(models_dir / "pose_detection.tflite", elsewhere / "detector.tflite")
    common = (
        "run",
        "--model",
        str(alone / "pose_landmark_lite.tflite"),
        "--source",
        str(squat_path),
        "--set",
        f"model.cache_dir={tmp_path / 'cache'}",
    )
    env = {"EDGEPOSE_MODEL_DIRS": str(alone)}
    done = run_cli(*common, "--set", f"model.detector={elsewhere / 'detector.tflite'}", env=env)
    assert done.returncode == 0, done.stderr
    assert len(parse_documents(done.stdout)[0]["poses"][0]["landmarks"]) == 33
    missing = run_cli(*common, "--set", f"model.detector={elsewhere / 'gone.tflite'}", env=env)
    assert missing.returncode == EX_NOINPUT
    assert "model.detector" in missing.stderr and "gone.tflite" in missing.stderr
    assert "Traceback" not in missing.stderr


# -- drawing -----------------------------------------------------------------------------------


def test_annotate_draws_the_33_landmarks_the_document_has(tmp_path: Path, squat_path: Path) -> None:
    from edgepose.sources.files import read_image
    from edgepose.viz.draw import color_for, poses_from_document

    run = run_cli(
        "run",
        "--model",
        "pose_landmark_full.tflite",
        "--source",
        str(squat_path),
        "--threads",
        "2",
        "--sink",
        f"jsonl:{tmp_path / 'poses.jsonl'}",
    )
    assert run.returncode == 0, run.stderr
    (doc,) = parse_documents((tmp_path / "poses.jsonl").read_text())
    (pose,) = poses_from_document(doc)
    assert pose.landmarks is not None and pose.landmarks.shape == (33, 4)
    out = tmp_path / "drawn.png"
    for args in (
        ["--model", "pose_landmark_full.tflite", "--threads", "2"],
        ["--from-jsonl", str(tmp_path / "poses.jsonl")],
    ):
        done = run_cli("annotate", str(squat_path), str(out), *args)
        assert done.returncode == 0, done.stderr
        after = read_image(out)
        colour = color_for(doc["poses"][0]["id"], 0)
        # The heels and foot tips (landmarks 29-32, not COCO keypoints) are drawn in the pose's colour.
        for x, y, _, visibility in doc["poses"][0]["landmarks"][29:33]:
            assert visibility >= 0.2
            assert tuple(int(v) for v in after[round(y), round(x)]) == colour


# -- a model the tests never saw, several cameras, a reload ------------------------------------


class ShuffledEngine:
    """A stand-in landmark engine whose outputs come in another order (as another build of the family
    may give them): world, heatmaps, flag, segmentation, landmarks. Every landmark at the crop centre."""

    def __init__(self, flag: float) -> None:
        from edgepose.inference.engine import TensorSpec

        f32 = np.dtype(np.float32)
        self.input = TensorSpec("input", 0, (1, 256, 256, 3), f32)
        shapes = [(1, 117), (1, 64, 64, 39), (1, 1), (1, 256, 256, 1), (1, 195)]
        self.outputs = tuple(TensorSpec(f"out{i}", i, s, f32) for i, s in enumerate(shapes))
        self.flag = flag
        self.accelerator = "cpu"

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        landmarks = np.zeros((1, 195), np.float32)
        landmarks[0, 0::5] = landmarks[0, 1::5] = 128.0
        landmarks[0, 33 * 5 + 1] = 160.0  # auxiliary centre below the scale point: an upright region
        landmarks[0, 34 * 5 + 1] = 96.0
        return [
            np.zeros((1, 117), np.float32),
            np.full((1, 64, 64, 39), -20.0, np.float32),
            np.array([[self.flag]], np.float32),
            np.zeros((1, 256, 256, 1), np.float32),
            landmarks,
        ]

    def close(self) -> None:
        pass


def test_a_landmark_model_with_its_outputs_in_another_order_runs(detector: PoseDetector, squat_rgb) -> None:
    estimator = BlazePoseEstimator(ShuffledEngine(0.9), detector, DecoderConfig(), "pose_landmark_heavy")
    assert estimator.decoder.ignored_outputs == ("out3",)
    result = estimator.estimate(Frame(squat_rgb, 0, 0.0, 0.0))
    (pose,) = result.poses
    assert pose.score == pytest.approx(0.9) and pose.landmarks.shape == (33, 4) and pose.world.shape == (33, 3)


def test_each_camera_carries_its_own_region_on_shared_engines(detector: PoseDetector, squat_rgb) -> None:
    first = BlazePoseEstimator(ShuffledEngine(0.9), detector, DecoderConfig(), "m")
    second = first.sibling(DecoderConfig())
    assert second.engine is first.engine and second.detector is detector
    before = detector.invokes
    first.estimate(Frame(squat_rgb, 0, 0.0, 0.0), continuous=True)
    first.estimate(Frame(squat_rgb, 1, 0.0, 0.04), continuous=True)  # carried: no detector
    second.estimate(Frame(squat_rgb, 0, 0.0, 0.0, "cam1"), continuous=True)  # its own first frame: detector
    assert detector.invokes - before == 2


def test_a_reload_of_min_pose_score_applies_from_the_next_frame(detector: PoseDetector, squat_rgb) -> None:
    estimator = BlazePoseEstimator(ShuffledEngine(0.7), detector, DecoderConfig(), "m")
    assert len(estimator.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses) == 1  # 0.7 >= 0.5, MediaPipe's threshold
    estimator.use(estimator.setup_for(DecoderConfig(min_pose_score=0.8)))
    assert estimator.estimate(Frame(squat_rgb, 1, 0.0, 0.0)).poses == ()


class Counting:
    """An engine that counts its invokes (and, with ``background``, its started ones)."""

    def __init__(self, engine, background: bool = False) -> None:
        self.engine, self.invokes, self.started = engine, 0, 0
        self.input, self.outputs, self.accelerator = engine.input, engine.outputs, "cpu"
        if background:
            self.start, self.collect = self._start, self._collect

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.invokes += 1
        return self.engine.invoke(tensor)

    def _start(self, tensor: np.ndarray, confirm: bool = False):
        from concurrent.futures import Future

        from edgepose.inference.supervisor import InFlight

        self.started += 1
        future: Future = Future()
        future.set_result(self.engine.invoke(tensor))
        return InFlight(future, [0.0, 0.0])

    def _collect(self, flight) -> list[np.ndarray]:
        return flight.future.result()


@pytest.mark.parametrize("background", [False, True])  # the serial pipeline's invoke; the overlapped start/collect
def test_the_landmark_model_does_not_run_when_nobody_is_found(
    background: bool, detector: PoseDetector, squat_rgb: np.ndarray
) -> None:
    from edgepose.pipeline.runner import StartsInvokes

    counting = Counting(ShuffledEngine(0.9), background)
    estimator = BlazePoseEstimator(counting, detector, DecoderConfig(), "m")
    assert isinstance(estimator.engine, StartsInvokes) is background
    grey = np.full_like(squat_rgb, 128)
    for n, image in enumerate([grey, squat_rgb, grey]):
        prepared = estimator.prepare(Frame(image, n, 0.0, 0.0))
        if background:
            outputs = estimator.engine.collect(estimator.engine.start(prepared.tensor, confirm=True))
        else:
            outputs = estimator.engine.invoke(prepared.tensor)
        result = estimator.finish(prepared, outputs, 0.0)
        assert len(result.poses) == (image is squat_rgb)
    assert (counting.started if background else counting.invokes) == 1  # the squat only


def test_bench_times_the_landmark_invoke_of_a_two_stage_model(squat_path) -> None:
    """The invoke column feeds the landmark model the region its detector found, as a frame would."""
    from tests.builders.cli import run_cli

    args = ("--threads", "2", "--frames", "3", "--warmup", "1", "--source", str(squat_path))
    proc = run_cli("bench", "--models", "pose_landmark_lite.tflite", *args)
    assert proc.returncode == 0, proc.stderr
    assert "| pose_landmark_lite |" in proc.stdout and "failed" not in proc.stdout


def test_a_chained_frame_without_a_region_is_not_invoked() -> None:
    """The landmark engine chains on the supervisor's worker as MoveNet's exact crop does, and still
    answers a frame without a region with zeros instead of running the model."""
    from edgepose.estimation.blazepose import ChainingLandmarkEngine, landmark_engine
    from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy

    counting = Counting(ShuffledEngine(0.9))
    supervised = SupervisedEngine(lambda: counting, "sleep", SupervisorPolicy(invoke_timeout=5.0))
    engine = landmark_engine(supervised)
    assert isinstance(engine, ChainingLandmarkEngine)
    tensor = np.zeros(engine.input.shape, np.float32)
    first = engine.start(tensor)
    chained = engine.chain(first, lambda outputs: engine.no_region)
    assert len(engine.collect(first)) == 5
    assert chained.began.wait(5.0)
    outputs = engine.collect(chained.flight)
    assert [o.shape for o in outputs] == [o.shape for o in engine.outputs] and not any(o.any() for o in outputs)
    assert counting.invokes == 1  # the first frame only
    then = engine.chain(chained.flight, lambda outputs: tensor)  # behind a frame that was not invoked
    assert then.began.wait(5.0) and len(engine.collect(then.flight)) == 5 and counting.invokes == 2
    supervised.close()


def test_overlapped_blazepose_on_video_cuts_on_the_worker_and_publishes_what_serial_does(
    models_dir: Path, detector: PoseDetector, walking_video: Path
) -> None:
    """The person leaves for four frames: the detector runs, frames without a region skip the model,
    and every document is the serial schedule's."""
    import threading

    from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy
    from edgepose.pipeline.lanes import Lane
    from edgepose.pipeline.runner import Pipeline
    from edgepose.stats import RunStats
    from edgepose.tools.bench.runner import MemorySource
    from tests.builders.pipeline import ListSink, video_clocks

    corner = video_frames(walking_video, 12, crop=(0, 120, 240))
    grey = np.full_like(corner[0], 128)
    frames = [*corner[:6], grey, grey, grey, grey, *corner[6:]]
    runs, cut_on = [], []
    for overlap in (False, True):
        model = read_model(models_dir / "pose_landmark_lite.tflite")
        engine = SupervisedEngine(lambda model=model: LiteRtEngine(model, 2), "sleep", SupervisorPolicy())
        estimator = BlazePoseEstimator(engine, detector, DecoderConfig(), "pose_landmark_lite")
        prepare = estimator.prepare

        def logged(frame: Frame, continuous: bool = False, prepare=prepare) -> object:
            cut_on.append(threading.current_thread().name)
            return prepare(frame, continuous)

        estimator.prepare = logged  # type: ignore[method-assign]
        sink = ListSink()
        lane = Lane("cam0", MemorySource(frames, True, clocks=video_clocks()), estimator)
        made = Pipeline([lane], [sink], Stamp("t", "pose_landmark_lite", "sleep"), RunStats(), overlap=overlap)
        assert made.overlap is overlap
        made.run(max_frames=len(frames))
        runs.append([{k: v for k, v in d.items() if k != "timing_ms"} for d in sink.documents])
        engine.close()
    assert [d["frame"] for d in runs[1]] == list(range(len(frames)))
    assert runs[1] == runs[0]
    assert [len(d["poses"]) for d in runs[1]][6:10] == [0, 0, 0, 0]
    overlapped = cut_on[len(frames) :]
    assert all(name.startswith("edgepose-sleep-") for name in overlapped[1:]), overlapped


def test_follow_carries_the_region_before_it_builds_the_pose(
    lite: BlazePoseEstimator, squat_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the next frame's cut needs (the flag and landmarks 33-34) is decoded at once; the pose,
    which the next invoke need not wait for, when the returned call is made; both as a whole decode."""
    import edgepose.estimation.blazepose as blazepose
    from edgepose.decode.blazepose.landmarks import AUXILIARY
    from edgepose.decode.blazepose.outputs import decode_outputs

    frames = [Frame(np.roll(squat_rgb, 4 * n, axis=1), n, 0.0, n / 25) for n in range(2)]
    lite.reset()
    prepared = lite.prepare(frames[0], continuous=True)
    outputs = lite.engine.invoke(prepared.tensor)
    whole = decode_outputs(outputs, lite.setup.decoder.layout, prepared.rect, lite.in_w, lite.in_h)
    built, original = [], blazepose.pose_from_result

    def counted(result, min_keypoint_score: float) -> Pose:
        built.append(result)
        return original(result, min_keypoint_score)

    monkeypatch.setattr(blazepose, "pose_from_result", counted)
    rest = lite.follow(prepared, outputs, 1.0)
    assert built == []
    region = lite.prepare(frames[1], continuous=True).rect  # the region follow carried
    assert region == blazepose.region_from_points(*whole.landmarks[list(AUXILIARY), :2])
    result = rest()
    assert len(built) == 1 and len(result.poses) == 1 and result.frame_index == 0
    np.testing.assert_array_equal(built[0].landmarks, whole.landmarks)
    np.testing.assert_array_equal(result.poses[0].landmarks, original(whole, 0.5).landmarks)


def test_a_frame_whose_landmarks_are_not_finite_fails_before_its_region_is_carried(
    lite: BlazePoseEstimator, squat_rgb: np.ndarray
) -> None:
    from edgepose.errors import FrameError

    lite.reset()
    first = lite.prepare(Frame(squat_rgb, 0, 0.0, 0.0), continuous=True)
    lite.finish(first, lite.engine.invoke(first.tensor), 1.0)
    prepared = lite.prepare(Frame(squat_rgb, 1, 0.0, 0.04), continuous=True)
    outputs = [o.copy() for o in lite.engine.invoke(prepared.tensor)]
    outputs[lite.setup.decoder.layout.world][0, 7] = np.inf  # a world landmark, which the region does not read
    with pytest.raises(FrameError, match="world landmark"):
        lite.follow(prepared, outputs, 1.0)
    assert lite.prepare(Frame(squat_rgb, 2, 0.0, 0.08), continuous=True).rect == prepared.rect  # still the old one


def test_the_detector_reads_the_letterboxed_frame_in_minus_one_to_one_from_one_buffer(
    models_dir: Path, squat_rgb: np.ndarray
) -> None:
    """What the detector is fed is MediaPipe's [-1, 1] letterbox, written into the same memory every
    call (the interpreter's own input), as the detector runs on every frame with nobody in view."""
    from edgepose.decode.blazepose.region import RotatedRect, warp
    from edgepose.estimation.blazepose import open_detector
    from edgepose.estimation.preprocess import full_region

    detector = open_detector(models_dir / "pose_detection.tflite", threads=1)
    fed: list[np.ndarray] = []
    where: list[int] = []
    invoke_filled = detector.engine.invoke_filled

    def spy(fill: Callable[[np.ndarray], None]) -> list[np.ndarray]:
        def record(view: np.ndarray) -> None:
            fill(view)
            fed.append(view.copy())
            where.append(view.__array_interface__["data"][0])

        return invoke_filled(record)

    detector.engine.invoke_filled = spy  # type: ignore[method-assign]
    for image in (squat_rgb, squat_rgb[::-1].copy()):
        detector.find(image)
        h, w = image.shape[:2]
        region = full_region(w, h, detector.in_w, detector.in_h)
        rgb = warp(image, RotatedRect(w / 2, h / 2, region.w, region.h), detector.in_w, detector.in_h, "zero")
        np.testing.assert_array_equal(fed[-1], (rgb.astype(np.float32) * np.float32(2.0 / 255.0) - 1.0)[None])
    assert where[0] == where[1] and fed[0].dtype == np.float32
