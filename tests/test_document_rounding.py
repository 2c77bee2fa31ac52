"""Documents built with array rounding against the old number-by-number definition, and encoded
with orjson against json: the same document, value for value and key for key, on real PoseNet
poses and on random ones; every one valid, none with NaN or inf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.documents import poses as document_module
from edgepose.documents.poses import PoseDocument, Stamp, encode, round_half_even, to_document
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.pose import FrameResult, Pose, Timing, box_from_keypoints
from edgepose.sources.files import read_image
from tests.builders.documents import validate_document

STAMP = Stamp("testpi", "posenet", "cpu")


def json_encode(document: dict) -> str:
    """``encode`` where orjson is not installed (32-bit ARM)."""
    saved, document_module.orjson = document_module.orjson, None
    try:
        return encode(document)
    finally:
        document_module.orjson = saved


def poses_by_number(result: FrameResult) -> list[dict[str, Any]]:
    """The old definition of the documents' ``poses``: one ``round`` per number."""
    return [
        {
            "id": pose.id,
            "score": round(float(pose.score), 4),
            "box": [round(float(v), 2) for v in pose.box],
            "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in pose.keypoints],
        }
        for pose in result.poses
    ]


def assert_same_document(result: FrameResult) -> None:
    document = to_document(result, STAMP)
    expected = poses_by_number(result)
    assert document["poses"] == expected
    old_line = json.dumps({**document, "poses": expected}, separators=(",", ":"), allow_nan=False)
    assert json.loads(encode(document)) == json.loads(old_line)  # orjson: the same document once parsed
    assert list(json.loads(encode(document))) == list(json.loads(old_line))  # keys in the same order
    assert json_encode(document) == old_line  # json: the same bytes
    assert list(document) == [
        "schema",
        "device",
        "camera",
        "frame",
        "ts",
        "width",
        "height",
        "model",
        "accelerator",
        "timing_ms",
        "poses",
        *(["file"] if result.file else []),
    ]
    validate_document(json.loads(encode(document)))


def result_of(poses: list[Pose], file: str = "") -> FrameResult:
    return FrameResult(
        7, 1.7e9 + 0.1234567, 12.5, 1280, 720, "cam0", tuple(poses), Timing(1.23456, 2.0, 0.5, 3.7), file
    )


def test_real_poses_give_the_same_document(posenet_path: Path, shared: Path) -> None:
    engine = LiteRtEngine(read_model(posenet_path), threads=2)
    estimator = PoseEstimator(
        engine, DecoderConfig(min_pose_score=0.02, max_poses=20), model_options=engine.model.decoder_options
    )
    image = read_image(shared / "images" / "posenet_test_image.bmp")
    result = estimator.estimate(Frame(image, 0, 1.7e9, 0.0, file="posenet_test_image.bmp"))
    assert len(result.poses) >= 5
    assert_same_document(result)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(4))
def test_random_poses_give_the_same_document(seed: int, dtype) -> None:
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(int(rng.integers(1, 15))):
        kp = rng.uniform(-100, 2000, (17, 3)).astype(dtype)
        kp[:, 2] = rng.random(17)
        kp[:3, :2] = (rng.integers(-1000, 1000, (3, 2)) + 0.5) / 100  # decimal halves: 2.675 is 2.67499...
        poses.append(Pose(kp, float(rng.random()), box_from_keypoints(kp), i if i % 3 else None))
    assert_same_document(result_of(poses))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("people", [1, 2])
def test_one_or_two_poses_give_the_same_document(people: int, dtype) -> None:
    rng = np.random.default_rng(people)
    for _ in range(20):
        poses = []
        for i in range(people):
            kp = rng.uniform(-100, 2000, (17, 3)).astype(dtype)
            kp[:, 2] = rng.random(17)
            kp[:3, :2] = (rng.integers(-1000, 1000, (3, 2)) + 0.5) / 100
            poses.append(Pose(kp, float(rng.random()), box_from_keypoints(kp), i))
        assert_same_document(result_of(poses))


def test_no_poses() -> None:
    assert to_document(result_of([]), STAMP)["poses"] == []


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).uniform(-3000, 3000, 5000),  # float64, no tie in sight
        (np.arange(-5000, 5000) + 0.5) / 100,  # decimal halves, which binary scaling gets wrong
        (np.arange(-5000, 5000) + 0.5) / 10000,
        np.arange(-5000, 5000) / 8.0,  # exact binary halves: both round half to even
        np.random.default_rng(2).uniform(-1e3, 1e3, 5000).astype(np.float32),
        np.array([0.0, -0.0, -0.004, 1e307, -1e307, 5e-324, np.inf, -np.inf]),
    ],
)
@pytest.mark.parametrize("digits", [2, 4])
def test_round_half_even_is_round(values: np.ndarray, digits: int) -> None:
    ours = round_half_even(values, digits).tolist()
    theirs = [round(v, digits) for v in np.asarray(values, np.float64).tolist()]
    assert [repr(v) for v in ours] == [repr(v) for v in theirs]


def test_nan_still_never_reaches_a_document() -> None:
    kp = np.ones((17, 3), np.float32)
    kp[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"JSON compliant|finite"):
        encode(to_document(result_of([Pose(kp, 0.5, (0.0, 0.0, 1.0, 1.0))]), STAMP))


def test_orjson_is_used_for_pose_documents() -> None:
    assert document_module.orjson is not None, "orjson is a dependency on this platform"
    document = to_document(result_of([]), STAMP)
    assert type(document) is PoseDocument
    assert encode(document) == document_module.orjson.dumps(document).decode()


@pytest.mark.parametrize(
    "change",
    [
        {"camera": "caméra-東"},  # orjson writes UTF-8, json escapes: the same once parsed
        {"file": "bad\udcff.jpg"},  # a surrogate-escaped file name orjson refuses: json takes it
        {"ts": np.float64(1.7e9)},  # a float subclass orjson does not serialize
        {"frame": 2**70},  # past 64 bits
        {"ts": 1e-05, "width": 10**16},
    ],
)
def test_unusual_values_give_the_same_document(change: dict) -> None:
    document = PoseDocument({**to_document(result_of([]), STAMP), **change})
    assert json.loads(encode(document)) == json.loads(json_encode(document))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_by_the_builder(bad: float) -> None:
    kp = np.ones((17, 3), np.float32)
    with pytest.raises(ValueError, match="JSON compliant"):
        to_document(result_of([Pose(kp, bad, (0.0, 0.0, 1.0, 1.0))]), STAMP)
    with pytest.raises(ValueError, match="JSON compliant"):
        to_document(result_of([Pose(kp, 0.5, (0.0, bad, 1.0, 1.0))]), STAMP)
    bad_kp = kp.copy()
    bad_kp[5, 1] = bad
    for poses in (
        [Pose(bad_kp, 0.5, (0.0, 0.0, 1.0, 1.0))],
        [Pose(kp, 0.5, (0.0, 0.0, 1.0, 1.0))] * 3 + [Pose(bad_kp, 0.5, (0.0, 0.0, 1.0, 1.0))],
    ):
        with pytest.raises(ValueError, match="JSON compliant"):
            to_document(result_of(poses), STAMP)
    with pytest.raises(ValueError, match="JSON compliant"):
        to_document(FrameResult(0, bad, 0.0, 1, 1, "cam0", ()), STAMP)
    with pytest.raises(ValueError, match="JSON compliant"):
        to_document(FrameResult(0, 0.0, 0.0, 1, 1, "cam0", (), Timing(decode=bad)), STAMP)


def test_other_documents_still_refuse_nan() -> None:
    """Meta and stats documents are plain dicts: json checks them, as before."""
    with pytest.raises(ValueError, match="JSON compliant"):
        encode({"p50": float("nan")})
