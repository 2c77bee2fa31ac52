"""The vectorized PoseNet wrapper (one-pass dequantizing, all poses mapped at once) against its old
per-pose definition, bit for bit, on the real model's outputs and on random ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.decode.base import dequantize_finite, dequantize_scaled
from edgepose.decode.posenet_multi import PoseNetMultiDecoder, poses_from_grid
from edgepose.estimation.preprocess import Region, cut, full_region, to_input_dtype
from edgepose.inference.engine import LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import read_model
from edgepose.pose import Pose, box_from_keypoints, boxes_from_keypoints
from edgepose.sources.files import read_image


def grids_per_output(decoder: PoseNetMultiDecoder, outputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The old definition: dequantize each output, then divide the offsets by the stride."""
    names = ("heatmaps", "short offsets", "mid offsets", "backward displacements")
    arrays = [dequantize_finite(decoder.specs[i], outputs[i], w)[0] for i, w in zip(decoder.order, names, strict=False)]
    mids = arrays[2] if len(arrays) == 3 else np.concatenate([arrays[2], arrays[3]], axis=2)
    scale = np.float32(1.0 / decoder.params.stride)
    return np.ascontiguousarray(arrays[0]), arrays[1] * scale, mids * scale


def poses_per_pose(coords, kp_scores, scores, stride, input_spec, region, min_score) -> list[Pose]:
    """The old definition: each pose mapped and boxed on its own."""
    _, in_h, in_w, _ = input_spec.shape
    poses = []
    for p in range(len(scores)):
        normalized = np.empty((coords.shape[1], 2), np.float32)
        normalized[:, 0] = coords[p, :, 1] * stride / in_w
        normalized[:, 1] = coords[p, :, 0] * stride / in_h
        keypoints = np.empty((coords.shape[1], 3), np.float32)
        keypoints[:, :2] = region.to_source(normalized)
        keypoints[:, 2] = kp_scores[p]
        poses.append(Pose(keypoints, float(scores[p]), box_from_keypoints(keypoints, min_score)))
    return poses


def assert_same_poses(ours: list[Pose], theirs: list[Pose]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.keypoints.dtype == b.keypoints.dtype == np.float32
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        assert a.score == b.score and a.box == b.box


@pytest.fixture(scope="module")
def real(posenet_path: Path, shared: Path) -> tuple[PoseNetMultiDecoder, list[np.ndarray], Region]:
    engine = LiteRtEngine(read_model(posenet_path), threads=2)
    image = read_image(shared / "images" / "posenet_test_image.bmp")
    _, in_h, in_w, _ = engine.input.shape
    region = full_region(image.shape[1], image.shape[0], in_w, in_h)
    outputs = [a.copy() for a in engine.invoke(to_input_dtype(cut(image, region, in_w, in_h), engine.input.dtype))]
    config = DecoderConfig(max_poses=20, min_pose_score=0.02)
    decoder = choose_decoder(FORMATS, engine.outputs, engine.input, config, "posenet", engine.model.decoder_options)
    return decoder, outputs, region


def decode_old(decoder: PoseNetMultiDecoder, outputs, region: Region) -> list[Pose]:
    p = decoder.params
    grids = grids_per_output(decoder, outputs)
    coords, kp, scores = decoder.kernels.posenet_decode(
        *grids, p.max_poses, p.min_pose_score, p.nms_radius / p.stride, 5, True
    )
    return poses_per_pose(coords, kp, scores, p.stride, decoder.input_spec, region, p.min_keypoint_score)


def test_real_outputs_decode_as_before(real) -> None:
    decoder, outputs, region = real
    for ours, theirs in zip(decoder.grids(outputs), grids_per_output(decoder, outputs), strict=True):
        assert ours.flags.c_contiguous and ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
    poses = decoder.decode(outputs, region)
    assert len(poses) >= 5
    assert_same_poses(poses, decode_old(decoder, outputs, region))


@pytest.mark.parametrize("seed", range(5))
def test_random_quantized_outputs_decode_as_before(real, seed: int) -> None:
    """Random uint8 outputs with random scales, zero points and strides, and a region past the frame."""
    decoder, outputs, _ = real
    rng = np.random.default_rng(seed)
    specs = tuple(
        TensorSpec(s.name, s.index, s.shape, s.dtype, float(rng.uniform(0.01, 0.5)), int(rng.integers(0, 256)))
        for s in decoder.specs
    )
    params = type(decoder.params)(20, 0.05, 20.0, float(rng.choice([16.0, 15.5, 7.3])), float(rng.uniform(0, 0.5)))
    other = PoseNetMultiDecoder(decoder.format, specs, decoder.order, decoder.input_spec, params, decoder.kernels)
    random = [rng.integers(0, 256, a.shape, dtype=np.uint8) for a in outputs]
    region = Region(*rng.uniform(-200, 200, 2), *rng.uniform(100, 2000, 2))
    assert_same_poses(other.decode(random, region), decode_old(other, random, region))


def test_float_outputs_dequantize_as_before() -> None:
    rng = np.random.default_rng(3)
    spec = TensorSpec("offsets", 0, (1, 9, 11, 34), np.dtype(np.float32))
    array = rng.normal(0, 30, spec.shape).astype(np.float32)
    ours = dequantize_scaled(spec, array, "offsets", 1 / 7.0)
    np.testing.assert_array_equal(ours, dequantize_finite(spec, array, "offsets")[0] * np.float32(1 / 7.0))
    assert not np.shares_memory(ours, array)


@pytest.mark.parametrize("seed", range(4))
def test_boxes_at_once_equal_box_per_pose(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(-50, 700, (12, 17, 3)).astype(np.float32)
    keypoints[..., 2] = rng.random((12, 17))
    keypoints[3, :, 2] = 0.0  # none above the threshold: the box of all keypoints
    boxes = boxes_from_keypoints(keypoints, 0.3)
    for kp, box in zip(keypoints, boxes, strict=True):
        assert tuple(box.tolist()) == box_from_keypoints(kp, 0.3)


def test_no_poses_gives_no_poses(real) -> None:
    decoder, _, region = real
    empty = np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32), np.zeros(0)
    assert poses_from_grid(*empty, 16.0, decoder.input_spec, region, 0.1) == []
