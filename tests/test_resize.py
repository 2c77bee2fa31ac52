"""The resize methods of edgepose.estimation.resize: shapes, the antialiased filter against PIL, aliasing measured.

Aliasing is measured on a grating finer than the output's pixel pitch: any contrast left in the
output is high frequencies folded back (a correct low-pass filter leaves a flat grey).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.errors import UnavailableError
from edgepose.estimation import preprocess, resize

METHODS = sorted(resize.METHODS)

# PIL rounds to 8 bits after each axis (and in fixed point); edgepose.estimation.resize rounds once, in float.
PIL_MAX_LEVELS = 1  # largest difference from PIL, in levels of 0..255
PIL_MEAN_LEVELS = 0.25  # mean difference over all pixels and channels


def noise_image(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Random pixels, lightly smoothed: photographic enough that rounding differences stay at one level."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8).astype(np.float32)
    kernel = np.array([1, 2, 1], np.float32) / 4  # one binomial pass per axis, edges replicated
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    image = sum(k * padded[i : i + shape[0], 1:-1] for i, k in enumerate(kernel))
    padded = np.pad(image, ((0, 0), (1, 1), (0, 0)), mode="edge")
    image = sum(k * padded[:, i : i + shape[1]] for i, k in enumerate(kernel))
    return np.round(image).astype(np.uint8)


def grating(shape: tuple[int, int], period: float) -> np.ndarray:
    """A sinusoid in x and y (a checkerboard of blobs), ``period`` pixels, 0..255, the same in every channel."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    wave = np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period)
    return np.repeat(np.round(127.5 + 127.5 * wave).astype(np.uint8)[..., None], 3, axis=2)


def aliased_contrast(out: np.ndarray) -> float:
    """The output interior's standard deviation over the grating's (0: flat grey, 1: all contrast kept)."""
    interior = out[4:-4, 4:-4, 0].astype(np.float64)
    return float(interior.std() / (127.5 / 2))  # a 2D product of cosines has std 127.5 / 2


def triangle_twin(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The antialiased resize written out pixel by pixel from its definition (slow, readable)."""

    def weights(n_in: int, n_out: int) -> list[dict[int, float]]:
        scale = n_in / n_out
        support = max(scale, 1.0)
        rows = []
        for i in range(n_out):
            centre = (i + 0.5) * scale
            lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), n_in)
            w = {x: max(0.0, 1.0 - abs(x + 0.5 - centre) / support) for x in range(lo, hi)}
            total = sum(w.values())
            rows.append({x: v / total for x, v in w.items()})
        return rows

    ys, xs = weights(image.shape[0], height), weights(image.shape[1], width)
    img = image.astype(np.float64)
    tall = np.array([sum(w * img[y] for y, w in row.items()) for row in ys])
    out = np.stack([sum(w * tall[:, x] for x, w in col.items()) for col in xs], axis=1)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((720, 1280), (192, 108)),  # 720p letterboxed into MoveNet Lightning: 6.7x
        ((1080, 1920), (256, 144)),  # 1080p into a 256 input: 7.5x
        ((500, 610), (192, 157)),  # the golden image: 3.2x
        ((37, 53), (70, 50)),  # an enlargement
        ((301, 300), (300, 7)),  # one axis kept, the other 43x
    ],
)
def test_shape_and_dtype(method: str, shape: tuple[int, int], size: tuple[int, int]) -> None:
    out = resize.METHODS[method](noise_image(shape), *size)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8


@pytest.mark.parametrize("method", METHODS)
def test_writes_into_a_view_of_a_larger_buffer(method: str) -> None:
    image = noise_image((300, 400))
    buffer = np.full((120, 200, 3), 7, np.uint8)
    view = buffer[10:100, 20:140]  # rows of non-packed pixels: OpenCV cannot write there itself
    got = resize.METHODS[method](image, 120, 90, view)
    assert got is view
    assert np.array_equal(view, resize.METHODS[method](image, 120, 90))
    assert (buffer[:10] == 7).all() and (buffer[:, 140:] == 7).all()  # nothing outside the view touched


@pytest.mark.parametrize("method", METHODS)
def test_identity_when_no_resize_is_needed(method: str) -> None:
    image = noise_image((50, 60))
    assert resize.METHODS[method](image, 60, 50) is image
    out = np.zeros_like(image)
    assert resize.METHODS[method](image, 60, 50, out) is out and np.array_equal(out, image)


@pytest.mark.parametrize("method", METHODS)
def test_refuses_what_is_not_an_rgb_uint8_image(method: str) -> None:
    with pytest.raises(ValueError, match="uint8"):
        resize.METHODS[method](np.zeros((10, 10, 3), np.float32), 5, 5)
    with pytest.raises(ValueError, match="positive"):
        resize.METHODS[method](np.zeros((10, 10, 3), np.uint8), 0, 5)


def test_bilinear_is_what_preprocess_does() -> None:
    """The study's baseline is edgepose's resize before the study, byte for byte (below and past 4x)."""
    for shape, size in [((500, 610), (192, 157)), ((720, 1280), (192, 108)), ((1080, 1920), (256, 144))]:
        image = noise_image(shape)
        assert np.array_equal(resize.bilinear(image, *size), preprocess.resize(image, *size))


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((720, 1280), (192, 108)),  # 6.7x
        ((500, 610), (192, 157)),  # 3.2x
        ((97, 200), (64, 31)),  # odd sizes, 3.1x
        ((37, 53), (70, 50)),  # enlargement: plain bilinear (support 1)
    ],
)
def test_antialiased_agrees_with_pil(shape: tuple[int, int], size: tuple[int, int]) -> None:
    image_module = pytest.importorskip("PIL.Image")
    image = noise_image(shape)
    got = resize.antialiased(image, *size).astype(int)
    ref = np.asarray(image_module.fromarray(image).resize(size, image_module.BILINEAR, reducing_gap=None)).astype(int)
    diff = np.abs(got - ref)
    assert diff.max() <= PIL_MAX_LEVELS
    assert diff.mean() <= PIL_MEAN_LEVELS


# antialiased_fast against antialiased: the blur's kernel is sampled at whole pixels and the
# bilinear step's tent is folded into it, so a few levels inside; at the edge rows and columns
# OpenCV replicates the border where the exact filter renormalizes its weights.
FAST_INTERIOR_MAX_LEVELS = 5
FAST_MEAN_LEVELS = 0.8


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((640, 640), (192, 192)),  # a person's crop region in a 720p frame: 3.3x
        ((500, 610), (192, 157)),  # 3.2x
        ((720, 1280), (192, 108)),  # 6.7x: box reduce by 2 first
        ((1080, 1920), (256, 144)),  # 7.5x: box reduce by 2 first
        ((37, 53), (70, 50)),  # enlargement: bilinear on both sides
    ],
)
def test_antialiased_fast_is_close_to_antialiased(shape: tuple[int, int], size: tuple[int, int]) -> None:
    image = noise_image(shape)
    diff = np.abs(resize.antialiased_fast(image, *size).astype(int) - resize.antialiased(image, *size))
    assert diff[1:-1, 1:-1].max() <= FAST_INTERIOR_MAX_LEVELS
    assert diff.mean() <= FAST_MEAN_LEVELS


def test_triangle_kernel_keeps_the_variance_of_the_shrink() -> None:
    """Blur then bilinear (a tent of variance 1/6) together have the triangle's variance, shrink**2 / 6."""
    for shrink in (2.0, 3.3, 6.0):
        k = resize.triangle_kernel(shrink)
        x = np.arange(len(k)) - len(k) // 2
        assert k.sum() == pytest.approx(1.0) and np.allclose(k, k[::-1])
        assert (k * x * x).sum() + 1 / 6 == pytest.approx(shrink * shrink / 6, rel=0.08)


def test_antialiased_agrees_with_its_slow_twin() -> None:
    """The definition, without PIL: the same filter written pixel by pixel."""
    image = noise_image((61, 83), seed=3)
    for size in [(17, 13), (30, 61), (100, 70)]:
        got = resize.antialiased(image, *size).astype(int)
        assert np.abs(got - triangle_twin(image, *size)).max() <= 1  # float32 against float64 at a half


def test_triangle_taps_sum_to_one_and_span_the_shrink() -> None:
    taps = resize.triangle_taps(1280, 192)
    assert np.allclose(taps.weights.sum(axis=1), 1.0, atol=1e-6)
    used = (taps.weights > 0).sum(axis=1)[1:-1]  # the first and last are cut by the image's edge
    assert used.min() >= 13 and used.max() <= 14  # 2 x 6.67 source pixels under the triangle
    assert (taps.index >= 0).all() and (taps.index < 1280).all()


# A grating of period 2.4 px (0.42 cycles a pixel) shrunk 3x: the output can hold at most 0.5
# cycles a pixel, i.e. 0.17 cycles of the input, so every bit of contrast left is aliasing.
# 3x is below the 4x at which edgepose's bilinear starts halving: the shrink MoveNet's crop
# region gives on video, and the OCHuman crops' (3.5x to 5.6x).
ALIASING_BILINEAR_MIN = 0.3  # bilinear keeps at least this share of the grating's contrast
ALIASING_ANTIALIASED_MAX = 0.05  # the triangle filter leaves at most this


@pytest.mark.parametrize("shape", [(576, 576), (600, 620)])
def test_a_fine_grating_aliases_with_bilinear_and_not_antialiased(shape: tuple[int, int]) -> None:
    image = grating(shape, 2.4)
    size = (shape[1] // 3, shape[0] // 3)
    plain = aliased_contrast(resize.bilinear(image, *size))
    smooth = aliased_contrast(resize.antialiased(image, *size))
    assert plain > ALIASING_BILINEAR_MIN, plain
    assert smooth < ALIASING_ANTIALIASED_MAX, smooth
    assert aliased_contrast(resize.antialiased_fast(image, *size)) < ALIASING_ANTIALIASED_MAX


def test_a_coarse_grating_survives_every_method() -> None:
    """The low-pass keeps what the output can hold: a 24 px period shrunk 3x is an 8 px period, kept."""
    image = grating((576, 576), 24.0)
    for method in METHODS:
        assert aliased_contrast(resize.METHODS[method](image, 192, 192)) > 0.6, method


def test_without_opencv_the_fast_filter_is_the_exact_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pi camera path may run without OpenCV: the default filter still works, in NumPy."""
    image = noise_image((300, 400))
    expected = resize.antialiased(image, 96, 72)
    monkeypatch.setattr(resize, "cv2", None)
    assert np.array_equal(resize.antialiased_fast(image, 96, 72), expected)
    with pytest.raises(UnavailableError, match="OpenCV"):
        resize.area(image, 96, 72)
