"""Regions, letterboxing and resizing: model coordinates map back to source pixels exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.estimation.preprocess import Region, cut, full_region, resize, resize_numpy, to_input_dtype


@pytest.mark.parametrize(
    ("w", "h", "in_w", "in_h"), [(640, 480, 192, 192), (500, 610, 192, 192), (1280, 720, 641, 481)]
)
def test_full_region_contains_the_frame_with_the_input_aspect(w: int, h: int, in_w: int, in_h: int) -> None:
    r = full_region(w, h, in_w, in_h)
    assert r.x <= 0 and r.y <= 0 and r.x + r.w >= w - 1e-9 and r.y + r.h >= h - 1e-9
    assert r.w / r.h == pytest.approx(in_w / in_h)
    assert min(-r.x, -r.y) == pytest.approx(0, abs=1e-9)  # tight on one axis


def test_a_marked_pixel_maps_back_to_where_it_was() -> None:
    """Put a bright dot in the source, find it in the model input, map it back."""
    image = np.zeros((300, 500, 3), np.uint8)
    image[120:124, 400:404] = 255
    for region in (full_region(500, 300, 192, 192), Region(300, 50, 150, 150), Region(350, 80, 80, 80)):
        tensor = cut(image, region, 192, 192)
        ys, xs = np.nonzero(tensor[..., 0] > 100)
        norm = np.array([[(xs.mean() + 0.5) / 192, (ys.mean() + 0.5) / 192]])
        back = region.to_source(norm)[0]
        assert back == pytest.approx([402, 122], abs=region.w / 192 + 1)


def test_region_outside_the_frame_is_black() -> None:
    image = np.full((100, 100, 3), 200, np.uint8)
    assert cut(image, Region(500, 500, 50, 50), 32, 32).max() == 0


def test_cut_reuses_the_buffer() -> None:
    buf = np.full((32, 32, 3), 7, np.uint8)
    image = np.full((10, 40, 3), 100, np.uint8)
    out = cut(image, full_region(40, 10, 32, 32), 32, 32, buf)
    assert out is buf
    assert out[0, 0, 0] == 0 and out[16, 16, 0] == 100  # padding cleared, content written


def test_numpy_resize_agrees_with_opencv() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    a = resize_numpy(image, 70, 50).astype(int)
    b = resize(image, 70, 50).astype(int)
    assert np.abs(a - b).max() <= 2


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32])
def test_input_dtypes(dtype) -> None:
    rgb = np.array([[[0, 128, 255]]], np.uint8)
    t = to_input_dtype(rgb, np.dtype(dtype))
    assert t.shape == (1, 1, 1, 3) and t.dtype == dtype
    if dtype is np.int8:
        assert t.ravel().tolist() == [-128, 0, 127]
    if dtype is np.float32:
        assert t.ravel() == pytest.approx([-1.0, 0.0039, 1.0], abs=1e-3)
