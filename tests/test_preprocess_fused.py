"""``fill_input``: crop, letterbox, resize and conversion into a reused input tensor, against the
two-step path it replaces (``to_input_dtype(cut(...))``), to the bit, for every input dtype, value
range and layout the models use, on real frames and edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.estimation import preprocess
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.preprocess import (
    Region,
    conversion_table,
    cut,
    fill_input,
    full_region,
    input_tensor,
    letterbox,
    to_input_dtype,
)
from edgepose.estimation.resize import METHODS
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from tests.builders.pipeline import video_frames

# (dtype, scale, zero point, value range, channels first, the mode input_tensor should pick)
INPUTS = [
    (np.uint8, 0.0, 0, "signed", False, "view"),  # MoveNet, PoseNet
    (np.uint8, 0.0078125, 128, "signed", False, "view"),  # PoseNet's input states a scale: still the pixels
    (np.int8, 0.0, 0, "signed", False, "flip"),  # MoveNet int8 exports: pixel - 128
    (np.float32, 0.0, 0, "signed", False, "table"),  # float MoveNet: [-1, 1]
    (np.float16, 0.0, 0, "signed", False, "table"),
    (np.int8, 0.02, 3, "signed", False, "flip"),  # signed int8 keeps the rule: pixel - 128 whatever its parameters
    (np.float32, 0.02, 3, "signed", False, "table"),  # a float input stating quantization parameters
    (np.float32, 0.0, 0, "unit", True, "divide"),  # YOLO-pose, NCHW
    (np.float32, 0.0, 0, "unit", False, "divide"),  # older YOLO-pose exports, NHWC
    (np.int8, 1 / 255, -128, "unit", True, "table"),
    (np.int8, 1 / 255, -128, "unit", False, "flip"),
    (np.uint8, 1 / 255, 0, "unit", False, "view"),
    (np.uint8, 2 / 255, 3, "unit", False, "table"),
    (np.int8, 0.0, 0, "signed", True, "table"),
]
IDS = [f"{np.dtype(d).name}-{vr}-{'nchw' if cf else 'nhwc'}-{s:.3g}-{z}" for d, s, z, vr, cf, _ in INPUTS]


def two_step(image: np.ndarray, region: Region, in_w: int, in_h: int, spec: tuple, pad: int, method=None):
    """The path ``fill_input`` replaces: cut into a new array, then convert into another."""
    dtype, scale, zero_point, value_range, channels_first, _ = spec
    rgb = cut(image, region, in_w, in_h, None, method, pad)
    return to_input_dtype(rgb, np.dtype(dtype), scale, zero_point, value_range, channels_first)


def assert_same_bits(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert np.ascontiguousarray(ours).tobytes() == np.ascontiguousarray(expected).tobytes()


def edge_cases(rng: np.random.Generator):
    """(image, region, in_w, in_h, pad): a crop partly outside, wholly outside, odd sizes, 1-pixel images."""
    image = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    yield image, Region(-40.5, 30.25, 120.0, 120.0), 33, 33, 0  # partly outside: left and bottom
    yield image, Region(100.0, -50.0, 90.0, 200.0), 17, 31, 114  # partly outside: right and top
    yield image, Region(-900.0, -900.0, 100.0, 100.0), 24, 24, 114  # wholly outside: all padding
    yield image, full_region(131, 97, 31, 17), 31, 17, 0  # odd sizes, letterboxed
    yield image, letterbox(131, 97, 31, 17), 31, 17, 114  # Ultralytics' placement
    yield image, Region(0.0, 0.0, 131.0, 97.0), 131, 97, 0  # the same size: a copy
    yield image, full_region(131, 97, 640, 640), 640, 640, 0  # enlarging
    yield image[::2, ::3], Region(3.0, 4.0, 20.0, 20.0), 19, 19, 0  # a strided view
    one = rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)
    yield one, full_region(1, 1, 5, 3), 5, 3, 7  # a 1-pixel image
    yield one, Region(0.0, 0.0, 1.0, 1.0), 1, 1, 0  # a 1-pixel image into a 1-pixel input
    yield image, Region(50.0, 40.0, 0.5, 0.5), 9, 9, 0  # a region smaller than a pixel


@pytest.mark.parametrize("spec", INPUTS, ids=IDS)
def test_the_fused_path_gives_the_two_step_tensor_on_edge_cases(spec: tuple) -> None:
    rng = np.random.default_rng(29)
    for image, region, in_w, in_h, pad in edge_cases(rng):
        target = input_tensor(in_h, in_w, np.dtype(spec[0]), *spec[1:5])
        assert target.mode == spec[5]
        expected = two_step(image, region, in_w, in_h, spec, pad)
        assert_same_bits(fill_input(image, region, target, pad=pad), expected)


@pytest.mark.parametrize("spec", INPUTS, ids=IDS)
def test_reused_tensors_are_overwritten_whole_frame_after_frame(spec: tuple) -> None:
    """The same target through frames whose regions differ (padding here, none there) keeps nothing
    of the last frame: the int8 flip in place, too, starts from fresh pixels every frame."""
    rng = np.random.default_rng(7)
    target = input_tensor(40, 56, np.dtype(spec[0]), *spec[1:5])
    tensor = target.tensor
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(1, 300, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if trial % 3 == 0:
            region = full_region(w, h, 56, 40)
        else:
            region = Region(*(float(v) for v in rng.uniform(-150, 150, 2)), *(float(v) for v in rng.uniform(2, 400, 2)))
        method = METHODS[("bilinear", "area", "antialiased_fast")[trial % 3]]
        out = fill_input(image, region, target, method, pad=trial % 2 * 114)
        assert out is tensor  # written in place: no array made per frame
        assert_same_bits(out, two_step(image, region, 56, 40, spec, trial % 2 * 114, method))


@pytest.mark.parametrize("spec", INPUTS[:4] + INPUTS[7:8], ids=IDS[:4] + IDS[7:8])
def test_the_fused_path_gives_the_two_step_tensor_on_video_frames(spec: tuple, walking_video: Path) -> None:
    """Real 720p frames, cut as MoveNet (a 4x-and-more shrink: Gaussian halvings first; person-sized
    squares, some over the edge) and PoseNet (the whole frame into 641x481) cut them."""
    frames = video_frames(walking_video, 3)
    for image in frames:
        for region, in_w, in_h in (
            (full_region(1280, 720, 192, 192), 192, 192),
            (Region(650.0, 319.5, 152.0, 152.0), 192, 192),
            (Region(1200.25, 600.0, 180.0, 180.0), 192, 192),
            (full_region(1280, 720, 641, 481), 641, 481),
        ):
            target = input_tensor(in_h, in_w, np.dtype(spec[0]), *spec[1:5])
            assert_same_bits(fill_input(image, region, target), two_step(image, region, in_w, in_h, spec, 0))


def test_uint8_and_int8_tensors_are_the_pixels_themselves() -> None:
    """MoveNet's and PoseNet's uint8 input is what the resize wrote (no second pass); int8 is the same
    memory with the top bit flipped."""
    for dtype in (np.uint8, np.int8):
        target = input_tensor(8, 8, np.dtype(dtype))
        assert np.shares_memory(target.tensor, target.pixels)
    target = input_tensor(8, 8, np.dtype(np.float32))
    assert not np.shares_memory(target.tensor, target.pixels)


def test_the_table_is_the_conversion_of_every_level() -> None:
    levels = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(conversion_table(np.dtype(np.int8)), levels.astype(np.int16) - 128)
    np.testing.assert_allclose(conversion_table(np.dtype(np.float32)), levels / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_allclose(conversion_table(np.dtype(np.float32), value_range="unit"), levels / 255.0)


def test_without_opencv_the_table_is_applied_by_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    spec = INPUTS[3]
    monkeypatch.setattr(preprocess, "cv2", None)  # the resize, too, is NumPy's: both paths alike
    expected = two_step(image, Region(-5.0, 2.0, 70.0, 70.0), 24, 24, spec, 0)
    target = input_tensor(24, 24, np.dtype(np.float32))
    assert_same_bits(fill_input(image, Region(-5.0, 2.0, 70.0, 70.0), target), expected)


def test_the_estimator_fills_two_tensors_in_turn(movenet_estimator: PoseEstimator, walking_video: Path) -> None:
    """MoveNet on video: each frame's tensor is the two-step tensor, in one of two arrays used in turn
    (with overlap, frame n+1 is cut while frame n's may still be read)."""
    estimator = movenet_estimator
    estimator.reset()
    seen = []
    for i, image in enumerate(video_frames(walking_video, 6)):
        prepared = estimator.prepare(Frame(image, i, 1.7e9 + i / 25, 100.0 + i / 25), continuous=True)
        spec = (np.uint8, 0.0, 0, "signed", False, "view")
        assert_same_bits(prepared.tensor, two_step(image, prepared.region, 192, 192, spec, 0, estimator.resize))
        seen.append(prepared.tensor)
        estimator.finish(prepared, estimator.engine.invoke(prepared.tensor), 0.0)
    assert seen[0] is seen[2] is seen[4] and seen[1] is seen[3] is seen[5] and seen[0] is not seen[1]


def test_a_float_nchw_model_gets_the_two_step_tensor(models_dir: Path, squat_rgb: np.ndarray) -> None:
    """YOLO11n-pose (float32 NCHW, [0, 1], gray 114 at Ultralytics' placement) through the estimator."""
    engine = LiteRtEngine(read_model(models_dir / "yolo11n-pose_320_float32.tflite"), threads=1)
    estimator = PoseEstimator(engine, DecoderConfig())
    convention = estimator.setup.convention
    assert (convention.value_range, convention.pad, estimator.channels_first) == ("unit", 114, True)
    for i in range(3):  # the third frame reuses the first one's tensor
        prepared = estimator.prepare(Frame(squat_rgb, i, 0.0, 0.0))
        region = convention.region(squat_rgb.shape[1], squat_rgb.shape[0], 320, 320)
        spec = (np.float32, 0.0, 0, "unit", True, "divide")
        assert_same_bits(prepared.tensor, two_step(squat_rgb, region, 320, 320, spec, 114, estimator.resize))
