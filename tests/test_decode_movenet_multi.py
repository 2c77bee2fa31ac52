"""MoveNet MultiPose: constructed [1,6,56] outputs through letterbox padding, and the dynamic input size."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.decode.movenet_multi import MoveNetMultiDecoder, input_size
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.preprocess import full_region
from edgepose.frame import Frame
from tests.builders.engines import OUT, FakeEngine, outputs, row


@pytest.mark.parametrize(
    ("width", "height", "long_side", "expected"),
    [
        (1280, 720, 256, (256, 160)),  # 16:9 landscape: 144 rounds up to 160
        (720, 1280, 256, (160, 256)),  # portrait
        (640, 480, 256, (256, 192)),  # 4:3 exactly
        (500, 500, 256, (256, 256)),
        (4000, 100, 256, (256, 32)),  # never below one 32-pixel block
        (640, 480, 500, (512, 384)),  # the long side itself is rounded to a multiple of 32
    ],
)
def test_input_size_keeps_the_aspect_ratio_in_multiples_of_32(width, height, long_side, expected) -> None:
    assert input_size(width, height, long_side) == expected


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
def test_decode_maps_keypoints_and_boxes_through_padding(kernel: str) -> None:
    decoder = choose_decoder(FORMATS, [OUT], OUT, DecoderConfig(kernel=kernel))
    assert isinstance(decoder, MoveNetMultiDecoder)
    # A 640x360 frame in a 256x256 input: 140 source pixels of black padding above and below.
    region = full_region(640, 360, 256, 256)
    assert (region.x, region.y, region.w, region.h) == (0.0, -140.0, 640.0, 640.0)
    people = [row(0.25, 0.1, 0.75, 0.3, 0.6), row(0.3, 0.5, 0.7, 0.9, 0.9), row(0.2, 0.2, 0.4, 0.4, 0.1)]
    poses = decoder.decode(outputs(*people), region)
    assert [round(p.score, 2) for p in poses] == [0.9, 0.6]  # best first; 0.1 is below min_pose_score
    best = poses[0]
    assert best.box == pytest.approx((0.5 * 640, 0.3 * 640 - 140, 0.9 * 640, 0.7 * 640 - 140))
    np.testing.assert_allclose(best.keypoints[0], [320.0, 52.0, 0.8], atol=1e-3)
    np.testing.assert_allclose(best.keypoints[16], [576.0, 308.0, 0.8], atol=1e-3)
    assert decoder.decode(outputs(), region) == []


def test_max_poses_and_threshold_from_the_config() -> None:
    decoder = choose_decoder(FORMATS, [OUT], OUT, DecoderConfig(max_poses=1, min_pose_score=0.05))
    people = [row(0.1, 0.1, 0.2, 0.2, s) for s in (0.1, 0.3, 0.2)]
    (pose,) = decoder.decode(outputs(*people), full_region(256, 256, 256, 256))
    assert pose.score == pytest.approx(0.3)


def test_estimator_resizes_the_dynamic_input_per_frame_size() -> None:
    engine = FakeEngine([row(0.25, 0.25, 0.75, 0.75, 0.9)])
    estimator = PoseEstimator(engine, DecoderConfig(multipose_long_side=256))
    frame = Frame(np.zeros((720, 1280, 3), np.uint8), 0, 0.0, 0.0)
    result = estimator.estimate(frame)
    estimator.estimate(frame)
    assert engine.resized == [(1, 160, 256, 3)]  # once: the frame size did not change
    assert engine.seen == [(1, 160, 256, 3), (1, 160, 256, 3)]
    (pose,) = result.poses
    # 1280x720 in 256x160 (1280x800 source pixels): 40 pixels of padding above the frame.
    assert pose.box == pytest.approx((320.0, 0.25 * 800 - 40, 960.0, 0.75 * 800 - 40))
