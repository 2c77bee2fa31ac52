"""The rotated square the landmark model reads, and cutting it out of a frame.

A :class:`RotatedRect` is in source pixels: a centre, a size and a rotation in radians (positive
turns the rect clockwise on screen, y pointing down; 0 is upright). Both the detector and the
auxiliary landmarks give two points: a centre (the mid-hip) and a point whose distance gives the
body's size and whose direction its lean (:func:`rect_from_points`, MediaPipe's
``AlignmentPointsRectsCalculator`` then ``RectTransformationCalculator``).

Cutting (:func:`warp`) follows MediaPipe's ``ImageToTensorCalculator`` on the CPU: output pixel
``(u, v)`` (integers, no half-pixel centre) samples the source at
``centre + (u / W - 1/2) * width * (cos, sin) + (v / H - 1/2) * height * (-sin, cos)``,
bilinearly, with OpenCV's fixed-point weights; the border is replicated (the landmark crop) or
zero (the detector's letterbox). The NumPy twin (:func:`warp_numpy`) stands in where OpenCV is
missing and agrees within a grey level or two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

try:  # OpenCV is the `video` extra; the NumPy twin keeps BlazePose working without it
    import cv2
except ImportError:  # pragma: no cover - exercised where OpenCV is absent
    cv2 = None

Border = Literal["replicate", "zero"]


@dataclass(frozen=True, slots=True)
class RotatedRect:
    """A rectangle in source pixels: centre ``(cx, cy)``, ``width`` x ``height``, ``rotation`` radians."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def __post_init__(self) -> None:
        values = (self.cx, self.cy, self.width, self.height, self.rotation)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"a rotated rect needs finite values, got {values}")

    def matrix(self, out_w: int, out_h: int) -> np.ndarray:
        """``(2, 3)`` float64 affine map from output pixels ``(u, v, 1)`` to source pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        w, h = self.width, self.height
        return np.array(
            [
                [w * c / out_w, -h * s / out_h, self.cx - 0.5 * w * c + 0.5 * h * s],
                [w * s / out_w, h * c / out_h, self.cy - 0.5 * w * s - 0.5 * h * c],
            ]
        )

    def to_source(self, xy: np.ndarray) -> np.ndarray:
        """``(..., 2)`` points normalized to the rect (0..1 along its own axes) in source pixels (float32)."""
        xy = np.asarray(xy, np.float32)
        c, s = np.float32(math.cos(self.rotation)), np.float32(math.sin(self.rotation))
        x = (xy[..., 0] - np.float32(0.5)) * np.float32(self.width)
        y = (xy[..., 1] - np.float32(0.5)) * np.float32(self.height)
        out = np.empty(xy.shape, np.float32)
        out[..., 0] = c * x - s * y + np.float32(self.cx)
        out[..., 1] = s * x + c * y + np.float32(self.cy)
        return out


def normalize_radians(angle: float) -> float:
    """``angle`` in [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rect_from_points(
    centre: np.ndarray, scale_point: np.ndarray, scale: float = 1.25, target_angle: float = math.pi / 2
) -> RotatedRect:
    """The square around a body given by two points in source pixels.

    Side: twice their distance, times ``scale``; rotation: what turns the direction centre ->
    ``scale_point`` to ``target_angle`` (90 degrees: the body upright, head up).
    """
    x0, y0 = float(centre[0]), float(centre[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rotation = normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))
    return RotatedRect(x0, y0, side, side, rotation)


def warp(
    image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int, border: Border, out: np.ndarray | None = None
) -> np.ndarray:
    """``rect`` of an ``(H, W, 3)`` uint8 image resampled to ``(out_h, out_w, 3)`` uint8 (see the module doc)."""
    if cv2 is None:
        result = warp_numpy(image, rect, out_w, out_h, border)
        if out is None:
            return result
        out[...] = result
        return out
    # MediaPipe calls warpPerspective; the map is affine, and warpAffine gives the same pixels
    # (tests/test_blazepose_decode.py) in 0.7 of the time.
    m = rect.matrix(out_w, out_h)
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    if out is None:
        return cv2.warpAffine(image, m, (out_w, out_h), flags=flags, borderMode=mode, borderValue=(0, 0, 0))
    result = cv2.warpAffine(image, m, (out_w, out_h), dst=out, flags=flags, borderMode=mode, borderValue=(0, 0, 0))
    if result is not out:
        out[...] = result
    return out


def warp_numpy(image: np.ndarray, rect: RotatedRect, out_w: int, out_h: int, border: Border) -> np.ndarray:
    """:func:`warp` in plain NumPy (float weights, rounded to nearest): OpenCV's twin."""
    h, w = image.shape[:2]
    m = rect.matrix(out_w, out_h)
    v, u = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    sx = m[0, 0] * u + m[0, 1] * v + m[0, 2]
    sy = m[1, 0] * u + m[1, 1] * v + m[1, 2]
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    img = image.astype(np.float64)

    def tap(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        if border == "replicate":
            return img[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)]
        inside = ((ys >= 0) & (ys < h) & (xs >= 0) & (xs < w))[..., None]
        return np.where(inside, img[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)], 0.0)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return np.clip(np.rint(top * (1 - fy) + bottom * fy), 0, 255).astype(np.uint8)
