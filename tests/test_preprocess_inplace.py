"""``cut`` writing the resampled part straight into the reused buffer and clearing only the padding,
with every ``model.resize`` method, and the one-pass int8 input, against their old definitions, on a
real frame and random ones."""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_type_hints

import numpy as np
import pytest

from edgepose.config.sections import ModelConfig
from edgepose.estimation import preprocess
from edgepose.estimation.preprocess import Region, cut, full_region, resize, to_input_dtype
from edgepose.estimation.resize import METHODS, Resize
from edgepose.sources.files import read_image

# The methods model.resize offers (the study's pyramid is not one of them).
CONFIGURABLE = get_args(get_type_hints(ModelConfig)["resize"])


def cut_by_copy(image: np.ndarray, region: Region, in_w: int, in_h: int, method: Resize = resize) -> np.ndarray:
    """The old definition: clear the whole input, resize into a new array with ``method``, copy it in."""
    height, width = image.shape[:2]
    out = np.zeros((in_h, in_w, 3), np.uint8)
    sx, sy = in_w / region.w, in_h / region.h
    x0, y0 = max(region.x, 0.0), max(region.y, 0.0)
    x1, y1 = min(region.x + region.w, float(width)), min(region.y + region.h, float(height))
    if x1 <= x0 or y1 <= y0:
        return out
    dx0, dy0 = round((x0 - region.x) * sx), round((y0 - region.y) * sy)
    dx1, dy1 = min(in_w, round((x1 - region.x) * sx)), min(in_h, round((y1 - region.y) * sy))
    if dx1 <= dx0 or dy1 <= dy0:
        return out
    src = image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
    out[dy0:dy1, dx0:dx1] = method(src, dx1 - dx0, dy1 - dy0)
    return out


SIZES = [(192, 192), (641, 481), (257, 257), (31, 17)]


def test_every_configurable_method_is_a_resize_method() -> None:
    assert set(CONFIGURABLE) <= set(METHODS) and "bilinear" in CONFIGURABLE
    assert ModelConfig().resize == "bilinear"


def random_cases(seed: int):
    """(image, region, in_w, in_h) of 25 trials: whole frames, regions partly and wholly outside."""
    rng = np.random.default_rng(seed)
    for trial in range(25):
        h, w = (int(v) for v in rng.integers(1, 700, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        in_w, in_h = SIZES[trial % len(SIZES)]
        if trial % 3 == 0:
            region = full_region(w, h, in_w, in_h)
        elif trial % 7 == 0:
            region = Region(-900.0, -900.0, 100.0, 100.0)  # wholly outside: all black
        else:
            region = Region(
                *(float(v) for v in rng.uniform(-300, 300, 2)), *(float(v) for v in rng.uniform(3, 1500, 2))
            )
        yield rng, image, region, in_w, in_h


@pytest.mark.parametrize("seed", range(8))
def test_random_regions_cut_as_before(seed: int) -> None:
    for rng, image, region, in_w, in_h in random_cases(seed):
        expected = cut_by_copy(image, region, in_w, in_h)
        dirty = rng.integers(0, 256, (in_h, in_w, 3), dtype=np.uint8)  # last frame's input, to be overwritten
        np.testing.assert_array_equal(cut(image, region, in_w, in_h, dirty), expected)
        np.testing.assert_array_equal(cut(image, region, in_w, in_h), expected)
        np.testing.assert_array_equal(cut(image, region, in_w, in_h, method=METHODS["bilinear"]), expected)


@pytest.mark.parametrize("name", CONFIGURABLE)
@pytest.mark.parametrize("seed", range(2))
def test_each_method_cuts_in_place_as_by_copy(name: str, seed: int) -> None:
    """Writing into a view of the reused buffer gives the bytes of resizing into a new array."""
    method = METHODS[name]
    differs = False
    for rng, image, region, in_w, in_h in random_cases(seed):
        expected = cut_by_copy(image, region, in_w, in_h, method)
        dirty = rng.integers(0, 256, (in_h, in_w, 3), dtype=np.uint8)
        np.testing.assert_array_equal(cut(image, region, in_w, in_h, dirty, method), expected)
        differs |= not np.array_equal(expected, cut_by_copy(image, region, in_w, in_h))
    assert differs == (name != "bilinear")  # the method is really used: only bilinear is the old bytes


def test_real_frame_cuts_as_before(shared: Path) -> None:
    image = read_image(shared / "images" / "posenet_test_image.bmp")
    buffer = np.full((481, 641, 3), 77, np.uint8)
    for region in (
        full_region(640, 480, 641, 481),
        Region(100.5, -40.25, 300.0, 300.0),
        Region(500.0, 300.0, 400.0, 400.0),
    ):
        in_w, in_h = (641, 481) if region.w != region.h else (192, 192)
        out = cut(image, region, in_w, in_h, buffer if in_w == 641 else None)
        np.testing.assert_array_equal(out, cut_by_copy(image, region, in_w, in_h))


def test_numpy_resize_into_a_view(monkeypatch) -> None:
    """Without OpenCV the result is copied into place."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    region = Region(-10.0, 5.0, 100.0, 80.0)
    expected = cut_by_copy(image, region, 50, 40)
    monkeypatch.setattr(preprocess, "cv2", None)
    np.testing.assert_array_equal(
        cut(image, region, 50, 40, np.ones((40, 50, 3), np.uint8)), cut_by_copy(image, region, 50, 40)
    )
    assert not np.array_equal(expected, np.zeros_like(expected))


def test_int8_input_is_pixel_minus_128() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16).repeat(3, axis=0).transpose(1, 2, 0).copy()
    ours = to_input_dtype(pixels, np.dtype(np.int8))
    assert ours.dtype == np.int8 and ours.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(ours, (pixels[None].astype(np.int16) - 128).astype(np.int8))
