"""Multi-person PoseNet on the real Coral model (decoder op cut off) against Coral's C++ decoder output."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode.posenet_multi import PoseNetMultiDecoder
from edgepose.errors import FrameError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.preprocess import full_region
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import read_model
from edgepose.pose import Pose
from edgepose.sources.files import read_image
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents

REFERENCE = "posenet_mobilenet_v1_075_481_641_16_quant_decoder_reference.csv"


def read_reference(path: Path, width: int, height: int) -> list[tuple[float, np.ndarray]]:
    """(pose score, (17, 3) of x, y in image pixels and score) per pose of Coral's CSV (x, y normalized)."""
    poses: dict[int, tuple[float, list]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            _, rows = poses.setdefault(int(row["pose_id"]), (float(row["pose_score"]), []))
            rows.append(
                (
                    int(row["keypoint_id"]),
                    float(row["keypoint_x"]) * width,
                    float(row["keypoint_y"]) * height,
                    float(row["keypoint_score"]),
                )
            )
    return [(score, np.array([r[1:] for r in sorted(rows)])) for score, rows in poses.values()]


@pytest.fixture(scope="module")
def image(shared: Path) -> np.ndarray:
    return read_image(shared / "images" / "posenet_test_image.bmp")


@pytest.fixture(scope="module")
def engine(posenet_path: Path) -> LiteRtEngine:
    return LiteRtEngine(read_model(posenet_path), threads=2)


def estimate(engine: LiteRtEngine, image: np.ndarray, config: DecoderConfig) -> list[Pose]:
    estimator = PoseEstimator(engine, config, model_options=engine.model.decoder_options)
    return list(estimator.estimate(Frame(image, 0, 0.0, 0.0)).poses)


@pytest.mark.pi  # also on arm64 in the emulated Raspberry Pi OS (make test-pi)
@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_golden_matches_corals_decoder(engine, image, models_dir, kernel) -> None:
    h, w = image.shape[:2]
    reference = [(s, kp) for s, kp in read_reference(models_dir / REFERENCE, w, h) if s > 0.5]
    ours = [p for p in estimate(engine, image, DecoderConfig(kernel=kernel)) if p.score > 0.5]
    assert len(ours) == len(reference) >= 2
    for pose, (score, kp) in zip(ours, reference, strict=True):  # both sorted by score
        assert abs(pose.score - score) < 0.1
        confident = kp[:, 2] > 0.5
        distance = np.hypot(*(pose.keypoints[confident, :2] - kp[confident, :2]).T)
        assert distance.mean() < 4.0, distance
        assert distance.max() < 12.0, distance


def test_model_options_are_the_defaults_and_config_overrides_them(engine, image) -> None:
    decoder = PoseEstimator(engine, DecoderConfig(), model_options=engine.model.decoder_options).decoder
    assert isinstance(decoder, PoseNetMultiDecoder)
    assert decoder.params.max_poses == 20 and decoder.params.nms_radius == 10.0 and decoder.params.stride == 16
    assert decoder.params.min_pose_score == pytest.approx(0.2)
    assert len(estimate(engine, image, DecoderConfig(max_poses=1))) == 1
    assert estimate(engine, image, DecoderConfig(min_pose_score=0.95)) == []
    without_model = PoseEstimator(engine, DecoderConfig()).decoder
    assert without_model.params.max_poses == 10 and without_model.params.nms_radius == 20.0  # built-in defaults
    assert without_model.params.stride == 16  # (481 - 1) / (31 - 1)


def test_float_outputs_with_nan_are_refused_as_a_frame_error(engine) -> None:
    specs = [dataclasses.replace(s, dtype=np.dtype(np.float32), scale=0.0, zero_point=0) for s in engine.outputs]
    decoder = PoseEstimator(engine, DecoderConfig(kernel="numpy")).decoder
    decoder = PoseNetMultiDecoder("posenet_coral", specs, decoder.order, engine.input, decoder.params, decoder.kernels)
    outputs = [np.zeros(s.shape, np.float32) for s in specs]
    outputs[0][...] = -10.0  # logits: nobody anywhere
    assert decoder.decode(outputs, full_region(640, 480, 641, 481)) == []
    outputs[1][0, 3, 4, 5] = np.nan
    with pytest.raises(FrameError, match="NaN or inf"):
        decoder.decode(outputs, full_region(640, 480, 641, 481))


def test_tf_layout_is_recognised_by_channel_counts_and_names() -> None:
    from edgepose.decode.posenet_multi import tf_layout

    def spec(name: str, c: int, i: int) -> TensorSpec:
        return TensorSpec(name, i, (1, 9, 9, c), np.dtype(np.float32))

    outputs = [
        spec("heatmap", 17, 0),
        spec("offset", 34, 1),
        spec("displacement_bwd", 32, 2),
        spec("displacement_fwd", 32, 3),
    ]
    assert tf_layout(outputs) == (0, 1, 3, 2)
    assert tf_layout(outputs[:3]) is None


@pytest.mark.slow
def test_cli_runs_posenet_on_the_cpu_without_the_custom_op(shared: Path) -> None:
    proc = run_cli(
        "run",
        "--model",
        "posenet_mobilenet_v1_075_481x641",
        "--source",
        str(shared / "images" / "posenet_test_image.bmp"),
        "--sink",
        "stdout",
    )
    assert proc.returncode == 0, proc.stderr
    (doc,) = parse_documents(proc.stdout)
    assert len(doc["poses"]) >= 2
    scores = [p["score"] for p in doc["poses"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= kp[0] <= 640 and 0 <= kp[1] <= 480 for p in doc["poses"] for kp in p["keypoints"])
