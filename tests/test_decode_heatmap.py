"""Heatmap decoders on synthetic Gaussians with known sub-pixel centres: DARK < quarter < argmax error."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.decode.heatmap import HeatmapDecoder, refine
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import load_kernels, numpy_kernels

H, W, SIGMA = 64, 48, 2.0  # Simple Baselines' 256x192 input: heatmaps 64x48, targets drawn with sigma 2


def gaussians(centres: np.ndarray) -> np.ndarray:
    """``(H, W, 17)`` heatmaps, channel j a unit Gaussian at ``centres[j]`` = (x, y) in cells."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.empty((H, W, len(centres)), np.float32)
    for j, (cx, cy) in enumerate(centres):
        out[:, :, j] = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * SIGMA**2))
    return out


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    rng = np.random.default_rng(2020)
    return np.stack([rng.uniform(5, W - 6, 17), rng.uniform(5, H - 6, 17)], axis=1)


@pytest.mark.parametrize("kernels", [load_kernels("numba"), numpy_kernels()], ids=["numba", "numpy"])
def test_dark_beats_quarter_beats_argmax(kernels, centres: np.ndarray) -> None:
    heat = gaussians(centres)
    error = {m: np.hypot(*(refine(kernels, heat, m)[:, :2] - centres).T) for m in ("argmax", "quarter", "dark")}
    mean = {m: float(e.mean()) for m, e in error.items()}
    assert mean["dark"] < mean["quarter"] < mean["argmax"]
    assert error["argmax"].max() <= np.hypot(0.5, 0.5) + 1e-6  # the nearest cell
    assert mean["quarter"] < 0.35
    assert error["dark"].max() < 0.05  # the log of a Gaussian is a quadratic: one Newton step lands on it


def test_noisy_quantized_gaussians_keep_the_order(centres: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    heat = np.round((gaussians(centres) + rng.normal(0, 0.01, (H, W, 17))).clip(0, 1) * 255) / 255
    heat = heat.astype(np.float32)
    k = load_kernels("numba")
    mean = {m: float(np.hypot(*(refine(k, heat, m)[:, :2] - centres).T).mean()) for m in ("argmax", "quarter", "dark")}
    assert mean["dark"] < mean["quarter"] < mean["argmax"]


def test_peak_on_the_border_is_not_extrapolated() -> None:
    heat = gaussians(np.array([[0.0, 0.0]] * 17))
    for m in ("quarter", "dark"):
        np.testing.assert_allclose(refine(numpy_kernels(), heat, m)[:, :2], 0.0)


@pytest.mark.parametrize("shape", [(1, H, W, 17), (1, 17, H, W)])
def test_decoder_maps_cells_to_source_pixels(shape: tuple[int, ...], centres: np.ndarray) -> None:
    spec = TensorSpec("heatmaps", 0, shape, np.dtype(np.float32))
    inp = TensorSpec("input", 0, (1, 256, 192, 3), np.dtype(np.float32))
    decoder = choose_decoder(FORMATS, [spec], inp, DecoderConfig(heatmap_refine="dark"))
    assert isinstance(decoder, HeatmapDecoder)
    heat = gaussians(centres)
    output = heat[None] if shape[-1] == 17 else heat.transpose(2, 0, 1)[None]
    region = Region(-10.0, 20.0, 384.0, 512.0)  # a letterboxed region twice the input size
    (pose,) = decoder.decode([output], region)
    expected = np.stack([-10 + centres[:, 0] / W * 384, 20 + centres[:, 1] / H * 512], axis=1)
    np.testing.assert_allclose(pose.keypoints[:, :2], expected, atol=0.1)
    assert 0.9 < pose.score <= 1.0  # the peak cell of unit Gaussians centred off-cell
