"""The estimators' input buffers: one on the serial schedule, two in turn once frames overlap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.estimation.blazepose import BlazePoseEstimator, open_detector
from edgepose.estimation.buffers import TurnBuffers
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.unread import without_unread_outputs
from tests.builders.pipeline import video_frames


def test_next_alternates_between_two_buffers_made_when_first_needed() -> None:
    made: list[list[int]] = []
    buffers = TurnBuffers(lambda: made.append([]) or made[-1])
    assert buffers.made == 0 and made == []
    first, second, third = buffers.next(), buffers.next(), buffers.next()
    assert first is third and first is not second and buffers.made == len(made) == 2


def test_current_stays_put_and_is_never_the_buffer_next_just_gave() -> None:
    buffers = TurnBuffers(object)
    assert buffers.current() is buffers.current() and buffers.made == 1  # serial: one buffer, ever
    in_flight = buffers.next()
    assert buffers.current() is not in_flight and buffers.made == 2


@pytest.fixture
def frames(walking_video: Path) -> list[Frame]:
    return [Frame(image, i, 1.7e9 + i / 25, 100.0 + i / 25) for i, image in enumerate(video_frames(walking_video, 4))]


def test_movenet_makes_one_input_buffer_when_serial_and_two_when_overlapped(
    movenet_path: Path, frames: list[Frame]
) -> None:
    estimator = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=1), DecoderConfig())
    for frame in frames:
        estimator.estimate(frame, continuous=True)
    assert estimator.input_buffers == 1
    in_flight = estimator.prepare(frames[0], continuous=True)
    kept = in_flight.tensor.copy()
    estimator.estimate(frames[3], continuous=True)  # a serial frame while frame 0's input is in flight
    np.testing.assert_array_equal(in_flight.tensor, kept)
    following = estimator.prepare(frames[1], continuous=True)
    assert following.tensor is not in_flight.tensor and estimator.input_buffers == 2


def test_blazepose_makes_one_input_buffer_when_serial_and_two_when_overlapped(
    models_dir: Path, frames: list[Frame], squat_rgb: np.ndarray
) -> None:
    engine = LiteRtEngine(without_unread_outputs(read_model(models_dir / "pose_landmark_lite.tflite")), 1)
    detector = open_detector(models_dir / "pose_detection.tflite", threads=1)
    estimator = BlazePoseEstimator(engine, detector, DecoderConfig(), "pose_landmark_lite")
    squat = Frame(squat_rgb, 0, 0.0, 0.0)
    for _ in range(3):
        assert estimator.estimate(squat).poses
    assert estimator.input_buffers == 1
    in_flight = estimator.prepare(squat)
    kept = in_flight.tensor.copy()
    estimator.estimate(frames[0])  # another image, serially, while the squat's input is in flight
    np.testing.assert_array_equal(in_flight.tensor, kept)
    assert estimator.prepare(squat).tensor is not in_flight.tensor and estimator.input_buffers == 2
