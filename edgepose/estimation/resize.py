"""Resize methods for shrinking a camera frame to a model input, compared in docs/accuracy.md.

A 720p frame is 6.7x a MoveNet Lightning input (1080p: 10x). Sampling it with plain bilinear
interpolation reads 2x2 source pixels per input pixel and skips the rest: detail finer than the
input's pixel pitch folds back as aliasing (moire, jagged limbs) and costs keypoint accuracy.
Each function here is one way to shrink, with one signature, so a study, a test or the
preprocessing step can swap them:

    method(image, width, height, out=None) -> (height, width, 3) uint8

``image`` is ``(H, W, 3)`` uint8 (RGB, any stride); ``out``, when given, is a ``(height, width,
3)`` uint8 array (a view of a larger buffer is fine) written in place and returned. When the
image already has the output size it is returned as it is (or copied into ``out``).

- :func:`bilinear`: edgepose's resize before this study (``edgepose.estimation.preprocess.resize``):
  Gaussian halvings (``pyrDown``) while the shrink is 4x or more, then OpenCV's bilinear.
- :func:`area`: OpenCV's ``INTER_AREA``, each output pixel the mean of the source area it covers.
- :func:`antialiased`: bilinear with the filter's support scaled to the shrink (a triangle over
  ``2 * shrink`` source pixels), as PIL's ``BILINEAR`` and TensorFlow's ``antialias=True`` do;
  separable, in NumPy (no OpenCV needed).
- :func:`antialiased_fast`: nearly the same in OpenCV: a box reduce by a whole factor past 6x, a
  triangle blur as wide as the rest of the shrink, then bilinear.
- :func:`pyramid`: ``pyrDown`` while the shrink is 2x or more, then bilinear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

import numpy as np

from edgepose.errors import UnavailableError

try:  # OpenCV is the `video` extra: the methods that need it say so when it is missing
    import cv2
except ImportError:  # pragma: no cover - exercised where OpenCV is absent
    cv2 = None


class Resize(Protocol):
    """The signature every resize method shares."""

    def __call__(
        self, image: np.ndarray, width: int, height: int, out: np.ndarray | None = None
    ) -> np.ndarray: ...  # pragma: no cover - a signature


def _check(image: np.ndarray, width: int, height: int) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    if width < 1 or height < 1:
        raise ValueError(f"output size must be positive, got {width}x{height}")


def _same_size(image: np.ndarray, width: int, height: int, out: np.ndarray | None) -> np.ndarray | None:
    """The image itself (or copied into ``out``) when no resize is needed, else None."""
    if image.shape[1] != width or image.shape[0] != height:
        return None
    if out is None:
        return image
    out[...] = image
    return out


def _opencv():
    if cv2 is None:
        raise UnavailableError(
            "this resize method needs OpenCV, which is not installed",
            "pip install 'edgepose[video]', or use the antialiased method (NumPy)",
        )
    return cv2


def _cv_resize(image: np.ndarray, width: int, height: int, interpolation: int, out: np.ndarray | None) -> np.ndarray:
    """``cv2.resize`` written straight into ``out`` when its rows are packed pixels, else copied there."""
    cv = _opencv()
    packed = out is not None and out.dtype == image.dtype and out.strides[1:] == (out.shape[2], 1)
    resized = cv.resize(image, (width, height), dst=out if packed else None, interpolation=interpolation)
    if out is None:
        return resized
    if resized is not out:
        out[...] = resized
    return out


def _halve_while(image: np.ndarray, width: int, height: int, factor: int) -> np.ndarray:
    """Gaussian halvings (``pyrDown``: 5x5 binomial blur, every second pixel) while shrinking ``factor``x or more."""
    cv = _opencv()
    while image.shape[1] >= factor * width and image.shape[0] >= factor * height:
        image = cv.pyrDown(image)
    return image


def bilinear(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """edgepose's resize before this study: ``pyrDown`` while the shrink is 4x or more, then bilinear.

    The same OpenCV calls as ``edgepose.estimation.preprocess.resize`` (a test holds them equal).
    """
    _check(image, width, height)
    same = _same_size(image, width, height, out)
    if same is not None:
        return same
    image = _halve_while(image, width, height, 4)
    return _cv_resize(image, width, height, _opencv().INTER_LINEAR, out)


def area(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """OpenCV's ``INTER_AREA``: a box filter as wide as the shrink (bilinear when enlarging)."""
    _check(image, width, height)
    same = _same_size(image, width, height, out)
    if same is not None:
        return same
    return _cv_resize(image, width, height, _opencv().INTER_AREA, out)


def pyramid(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """``pyrDown`` while the shrink is 2x or more, then bilinear over the last (less than 2x) step."""
    _check(image, width, height)
    same = _same_size(image, width, height, out)
    if same is not None:
        return same
    image = _halve_while(image, width, height, 2)
    return _cv_resize(image, width, height, _opencv().INTER_LINEAR, out)


@dataclass(frozen=True, slots=True)
class Taps:
    """One axis of a separable resampling filter: output pixel ``i`` is ``sum_k weights[i, k] * in[index[i, k]]``.

    ``index`` and ``weights`` are ``(n_out, k)``; each row of ``weights`` sums to 1.
    """

    index: np.ndarray
    weights: np.ndarray


def triangle_taps(n_in: int, n_out: int, extent: float | None = None) -> Taps:
    """The antialiased bilinear filter of one axis, as PIL computes it (``precompute_coeffs``).

    Output pixel ``i`` is centred at ``c = (i + 0.5) * s`` source pixels, ``s = extent / n_out``;
    ``extent`` (default ``n_in``) is the length the output spans, in source pixels.
    The filter is a triangle of half-width ``r = max(s, 1)`` source pixels: source pixel ``x``
    (centre ``x + 0.5``) weighs ``max(0, 1 - |x + 0.5 - c| / r)``, over the pixels PIL takes
    (``int(c - r + 0.5) <= x < int(c + r + 0.5)``, inside the image), normalized to sum 1.
    When enlarging (``s < 1``) this is ordinary bilinear interpolation.
    """
    scale = (n_in if extent is None else extent) / n_out
    support = max(scale, 1.0)
    centre = (np.arange(n_out) + 0.5) * scale
    first = np.maximum(np.floor(centre - support + 0.5), 0).astype(np.intp)
    stop = np.minimum(np.floor(centre + support + 0.5), n_in).astype(np.intp)
    k = int((stop - first).max())
    x = first[:, None] + np.arange(k)
    weights = np.maximum(0.0, 1.0 - np.abs(x + 0.5 - centre[:, None]) / support)
    weights[x >= stop[:, None]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return Taps(np.minimum(x, n_in - 1), weights.astype(np.float32))


def antialiased(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """Bilinear with the filter's support scaled to the shrink (PIL's ``BILINEAR``, TensorFlow's ``antialias=True``).

    Separable, the vertical pass first (it leaves ``height`` rows for the horizontal one), one
    multiply-add per tap in float32, rounded to the nearest level once at the end (PIL rounds
    after each axis, in fixed point: within one level of it).
    """
    _check(image, width, height)
    same = _same_size(image, width, height, out)
    if same is not None:
        return same
    return _triangle(image, width, height, out, float(image.shape[1]), float(image.shape[0]))


def _triangle(
    image: np.ndarray, width: int, height: int, out: np.ndarray | None, extent_x: float, extent_y: float
) -> np.ndarray:
    """The separable triangle filter of :func:`antialiased`, the output spanning ``extent_x`` x ``extent_y`` pixels."""
    rows = triangle_taps(image.shape[0], height, extent_y)
    cols = triangle_taps(image.shape[1], width, extent_x)
    # Both passes gather whole rows (fast in NumPy; a column gather is twice as slow): the rows of
    # the image, then the rows of the vertical pass's result transposed (one column per row).
    tall = _weighted_rows(image.reshape(image.shape[0], -1), rows)  # (height, W * 3)
    across = np.ascontiguousarray(tall.reshape(height, image.shape[1], 3).transpose(1, 0, 2))
    acc = _weighted_rows(across.reshape(image.shape[1], -1), cols)  # (width, height * 3)
    acc += 0.5
    np.clip(acc, 0, 255, out=acc)
    result = acc.reshape(width, height, 3).transpose(1, 0, 2)
    if out is None:
        return result.astype(np.uint8)
    out[...] = result  # float to uint8 truncates: with the + 0.5, rounds half up
    return out


def _weighted_rows(rows: np.ndarray, taps: Taps) -> np.ndarray:
    """``out[i] = sum_k taps.weights[i, k] * rows[taps.index[i, k]]`` for a 2D array, in float32."""
    acc = np.zeros((taps.index.shape[0], rows.shape[1]), np.float32)
    term = np.empty_like(acc)
    for k in range(taps.index.shape[1]):
        np.multiply(rows[taps.index[:, k]], taps.weights[:, k, None], out=term)
        acc += term
    return acc


REDUCING_GAP = 3.0  # PIL: "with reducing_gap >= 3.0 the result is indistinguishable from fair resampling"


def triangle_kernel(shrink: float) -> np.ndarray:
    """The triangle filter of a ``shrink``-fold reduction sampled at whole source pixels, for a blur before bilinear.

    Bilinear sampling afterwards adds its own tent of half-width 1 (variance 1/6); the triangle's
    half-width is reduced to ``sqrt(shrink**2 - 1)`` so that the two together have the variance of
    the triangle of half-width ``shrink`` (``shrink**2 / 6``) that :func:`antialiased` applies.
    """
    support = float(np.sqrt(max(shrink * shrink - 1.0, 1.0)))
    n = int(np.ceil(support))
    kernel = np.maximum(0.0, 1.0 - np.abs(np.arange(1 - n, n)) / support)
    return (kernel / kernel.sum()).astype(np.float32)


def antialiased_fast(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`antialiased` approximated with OpenCV's uint8 SIMD: box reduce, triangle blur, bilinear.

    While the shrink is 6x or more the image is halved with ``INTER_AREA`` (each pixel the mean of
    a 2x2 block: OpenCV's fast path; PIL's ``reducing_gap=3`` reduces by a whole factor the same
    way); the remaining 3x to 6x is a separable triangle blur (:func:`triangle_kernel`, edges
    replicated) and a bilinear sample. A fifth to a sixth of :func:`antialiased`'s time; within a
    few levels of it inside the image (tests/test_resize.py), more at the edge rows, where PIL
    renormalizes and this replicates. An odd last row or column is left out at each halving (at
    most a source pixel or three of the extent). Enlarging: bilinear. Without OpenCV (the
    ``video`` extra), this is :func:`antialiased`.
    """
    _check(image, width, height)
    same = _same_size(image, width, height, out)
    if same is not None:
        return same
    if cv2 is None:  # the Pi camera path may run without OpenCV: the exact filter, in NumPy
        return _triangle(image, width, height, out, float(image.shape[1]), float(image.shape[0]))
    cv = cv2
    while min(image.shape[1] / width, image.shape[0] / height) >= 2 * REDUCING_GAP:
        h, w = image.shape[0] // 2, image.shape[1] // 2  # OpenCV's fast path: 2x2 means (3x costs 3.6x as much)
        image = cv.resize(image[: 2 * h, : 2 * w], (w, h), interpolation=cv.INTER_AREA)
    shrink_x, shrink_y = image.shape[1] / width, image.shape[0] / height
    if shrink_x > 1.0 or shrink_y > 1.0:
        kx, ky = triangle_kernel(shrink_x), triangle_kernel(shrink_y)
        image = cv.sepFilter2D(image, -1, kx, ky, borderType=cv.BORDER_REPLICATE)
    return _cv_resize(image, width, height, cv.INTER_LINEAR, out)


# ``model.resize``'s default: docs/accuracy.md gives the measurements it was chosen by.
DEFAULT = "bilinear"

METHODS: Mapping[str, Resize] = MappingProxyType(
    {
        "bilinear": bilinear,
        "area": area,
        "antialiased": antialiased,
        "antialiased_fast": antialiased_fast,
        "pyramid": pyramid,
    }
)
