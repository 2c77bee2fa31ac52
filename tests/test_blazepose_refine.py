"""``refine_with_heatmap`` pinned, bit for bit, to the plain implementation it replaced.

The decoder reads the heatmap windows with one flat gather and weighs them in fewer NumPy calls;
the reference below is the straightforward version (three-array gather, ``np.where``, per-axis
sums), kept here and only here. Both must give the very same float32 bits on every input:
landmarks inside, on the edge of and off the map, windows wider than the map, unsure windows, NaN
and infinite logits. A different summation order of the float64 moments would almost never show
in the float32 result, so the decoder keeps the reference's reductions instead of leaning on
these tests for that.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.decode.blazepose.landmarks import refine_with_heatmap

# Also on arm64 in the emulated Raspberry Pi OS (make test-pi), whose exp and sums are other machine code.
pytestmark = pytest.mark.pi


def reference_refine(xy: np.ndarray, heatmap: np.ndarray, kernel: int = 9, min_confidence: float = 0.5) -> np.ndarray:
    """The implementation before the flat gather, verbatim but for the sigmoid written out."""
    hm = np.asarray(heatmap, np.float32)
    if hm.ndim == 4:
        hm = hm[0]
    hm_h, hm_w, channels = hm.shape
    xy = np.asarray(xy, np.float32)
    if len(xy) != channels:
        raise ValueError(f"{len(xy)} landmarks for a heatmap of {channels} channels")
    out = xy.copy()
    col = np.trunc(xy[:, 0] * np.float32(hm_w)).astype(np.intp)
    row = np.trunc(xy[:, 1] * np.float32(hm_h)).astype(np.intp)
    inside = (col >= 0) & (col < hm_w) & (row >= 0) & (row < hm_h)
    idx = np.flatnonzero(inside)
    if not len(idx):
        return out
    half = (kernel - 1) // 2
    steps = np.arange(-half, half + 1)
    rows = row[idx, None, None] + steps[None, :, None]  # (n, k, 1)
    cols = col[idx, None, None] + steps[None, None, :]  # (n, 1, k)
    valid = (rows >= 0) & (rows < hm_h) & (cols >= 0) & (cols < hm_w)  # (n, k, k)
    logits = hm[np.clip(rows, 0, hm_h - 1), np.clip(cols, 0, hm_w - 1), idx[:, None, None]]
    with np.errstate(over="ignore"):
        sig = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32, copy=False)
    weight = np.where(valid, sig, np.float32(0.0))
    total = weight.sum(axis=(1, 2))
    peak = weight.max(axis=(1, 2))
    refine = (peak >= min_confidence) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wx = (weight * cols).sum(axis=(1, 2)) / np.float32(hm_w) / total
        wy = (weight * rows).sum(axis=(1, 2)) / np.float32(hm_h) / total
    chosen = idx[refine]
    out[chosen, 0] = wx[refine]
    out[chosen, 1] = wy[refine]
    return out


def peaked_heatmap(rng: np.random.Generator, h: int, w: int, xy: np.ndarray, spread: float) -> np.ndarray:
    """``(h, w, len(xy))`` logits: a blob near each landmark on a low background, as the model gives."""
    rows = np.arange(h)[:, None, None] + 0.5
    cols = np.arange(w)[None, :, None] + 0.5
    centre = xy + rng.normal(0.0, 2.0 / max(h, w), xy.shape)  # the blob is a little off the landmark
    dist2 = (cols - centre[:, 0] * w) ** 2 + (rows - centre[:, 1] * h) ** 2
    peak = rng.uniform(-3.0, 6.0, len(xy))  # some blobs too faint to pass 0.5
    noise = rng.normal(0.0, spread, (h, w, len(xy)))
    return (peak - dist2 / 4.0 + noise - 4.0).astype(np.float32)


def positions(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """``(n, 2)`` float32: mostly on the map, some near or over its edges, some off it."""
    xy = rng.uniform(-0.15, 1.15, (n, 2))
    edges = np.array([0.0, -0.4 / w, -1.0 / w, 1.0, 1.0 - 0.5 / w, 3.5 / w, 1.0 - 4.5 / w, 0.5])
    pick = rng.random((n, 2)) < 0.3
    xy[pick] = rng.choice(edges, pick.sum())
    return xy.astype(np.float32)


def spoil(rng: np.random.Generator, hm: np.ndarray, nan: float, inf: float) -> np.ndarray:
    """NaN and +-inf sprinkled over the map, its border rows and columns included."""
    hm = hm.copy()
    hm[rng.random(hm.shape) < nan] = np.nan
    hm[rng.random(hm.shape) < inf] = np.inf
    hm[rng.random(hm.shape) < inf] = -np.inf
    border = np.zeros(hm.shape[:2], bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    hm[border & (rng.random(hm.shape[:2]) < 4 * nan)] = np.nan
    return hm


def assert_same(xy: np.ndarray, hm: np.ndarray, kernel: int, min_confidence: float) -> None:
    before = np.array(xy, copy=True)
    expected = reference_refine(xy, hm, kernel, min_confidence)
    got = refine_with_heatmap(xy, hm, kernel, min_confidence)
    assert got.dtype == expected.dtype == np.float32
    assert got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True), np.argwhere(got.view(np.int32) != expected.view(np.int32))
    np.testing.assert_array_equal(xy, before)  # the caller's positions are not written


@pytest.mark.parametrize(
    ("seed", "shape", "spread", "nan", "inf"),
    [
        (1, (64, 64, 39), 1.0, 0.0, 0.0),  # the full and lite models' heatmap, clean
        (2, (64, 64, 39), 3.0, 0.01, 0.0),  # noisy, some NaN logits (the border too)
        (3, (64, 64, 39), 1.0, 0.0, 0.005),  # +-inf logits
        (4, (48, 40, 7), 2.0, 0.02, 0.005),  # not square, few channels
        (5, (6, 5, 4), 2.0, 0.0, 0.0),  # windows wider than the map on both axes
        (6, (1, 1, 3), 1.0, 0.05, 0.0),  # a single cell
    ],
)
@pytest.mark.parametrize("kernel", [9, 7, 3, 1, 8, 13])  # 9 is the graph's; 8 is read as 7
def test_refine_matches_the_reference_bit_for_bit(
    seed: int, shape: tuple[int, int, int], spread: float, nan: float, inf: float, kernel: int
) -> None:
    rng = np.random.default_rng([seed, kernel])
    h, w, channels = shape
    for trial in range(30):
        xy = positions(rng, channels, h, w)
        hm = spoil(rng, peaked_heatmap(rng, h, w, xy, spread), nan, inf)
        min_confidence = (0.5, 0.0, 0.9, 1.0, 1.5)[trial % 5]  # 0.0: every window; 1.5: none
        assert_same(xy, hm, kernel, min_confidence)


@pytest.mark.parametrize(
    "scale",
    [
        1.0,  # the model's usual range
        40.0,  # far past exp's float32 range: weights of exactly 0 and 1
        1e-6,  # all near 0.5: every window passes, rounding decides the centre
    ],
)
def test_refine_matches_the_reference_on_wild_logits(scale: float) -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        xy = positions(rng, 39, 64, 64)
        hm = (rng.normal(0.0, 4.0, (64, 64, 39)) * scale).astype(np.float32)
        assert_same(xy, hm, 9, 0.5)


def test_refine_matches_the_reference_whatever_the_inputs_layout() -> None:
    rng = np.random.default_rng(8)
    xy = positions(rng, 39, 64, 64)
    hm = spoil(rng, peaked_heatmap(rng, 64, 64, xy, 1.0), 0.01, 0.0)
    assert_same(xy, hm[None], 9, 0.5)  # with the batch axis, as the model gives it
    assert_same(xy.astype(np.float64), hm.astype(np.float64), 9, 0.5)  # float64 in: read as float32
    assert_same(xy, np.asfortranarray(hm), 9, 0.5)  # not C-contiguous
    assert_same(xy[::-1].copy(), hm[:, :, ::-1], 9, 0.5)  # a reversed view
    assert_same(np.asfortranarray(xy), hm, 9, 0.5)


def test_refine_matches_the_reference_when_nothing_is_on_the_map() -> None:
    hm = np.full((64, 64, 3), 5.0, np.float32)
    xy = np.array([[-0.2, 0.5], [0.5, 1.0], [1.5, -3.0]], np.float32)
    assert_same(xy, hm, 9, 0.5)
    assert_same(xy, np.zeros((0, 64, 3), np.float32), 9, 0.5)  # a map of no rows
    assert_same(np.zeros((0, 2), np.float32), np.zeros((64, 64, 0), np.float32), 9, 0.5)  # no landmarks


def test_refine_refuses_a_landmark_count_unlike_the_channels() -> None:
    with pytest.raises(ValueError, match="3 landmarks for a heatmap of 2 channels"):
        refine_with_heatmap(np.zeros((3, 2), np.float32), np.zeros((8, 8, 2), np.float32))


@pytest.mark.parametrize("channels", [[33, 34], [34, 33], [0], [38, 0, 17], list(range(39))])
def test_some_channels_refine_as_they_do_among_all(channels: list[int]) -> None:
    """The next region reads landmarks 33-34 only: each refines as it does when all 39 are refined."""
    rng = np.random.default_rng([9, *channels])
    for _ in range(20):
        xy = positions(rng, 39, 64, 64)
        hm = spoil(rng, peaked_heatmap(rng, 64, 64, xy, 2.0), 0.01, 0.002)[None]
        whole = refine_with_heatmap(xy, hm)
        some = refine_with_heatmap(xy[channels], hm, channels=channels)
        assert np.array_equal(some, whole[channels], equal_nan=True)


def test_channels_out_of_the_map_or_unlike_the_landmarks_are_refused() -> None:
    hm = np.zeros((8, 8, 4), np.float32)
    with pytest.raises(ValueError, match="not among its 4"):
        refine_with_heatmap(np.zeros((1, 2), np.float32), hm, channels=[4])
    with pytest.raises(ValueError, match="2 landmarks for a heatmap of 1 channels"):
        refine_with_heatmap(np.zeros((2, 2), np.float32), hm, channels=[1])
