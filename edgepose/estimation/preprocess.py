"""Turning a source frame into a model input, and model coordinates back into source pixels.

Every model input is cut from a *region* of the source frame: an axis-aligned rectangle in source
pixels with the model input's aspect ratio. The whole frame, letterboxed, is the centred region
that just contains it; MoveNet's crop-region tracking uses smaller squares around the person.
Parts of a region outside the frame are padding (black unless the model's
:class:`InputConvention` says otherwise). Mapping back is one scale and one offset per axis, with
no special case for padding.

How a model wants its input (padding value, where the letterboxed frame sits, the range of float
inputs, channel order) is its decoder's :class:`InputConvention`: MoveNet and PoseNet take the
default (black, centred, [-1, 1], NHWC), YOLO-pose takes Ultralytics' (gray 114 at Ultralytics'
placement, [0, 1], usually NCHW). The tensor's layout (NCHW or NHWC) is read from the model's input
shape (:func:`input_geometry`), not declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from edgepose.estimation.resize import Resize

try:  # OpenCV is the `video` extra; a NumPy resize keeps the camera path working without it
    import cv2
except ImportError:  # pragma: no cover - exercised where OpenCV is absent
    cv2 = None


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in source pixels: left, top, width, height (may extend past the frame)."""

    x: float
    y: float
    w: float
    h: float

    def to_source(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` coordinates normalized to the region (0..1, x then y) to source pixels."""
        out = np.empty_like(xy, dtype=np.float32)
        out[..., 0] = self.x + xy[..., 0] * self.w
        out[..., 1] = self.y + xy[..., 1] * self.h
        return out


@dataclass(frozen=True, slots=True)
class Letterbox(Region):
    """The whole frame as Ultralytics' ``LetterBox`` places it; ``width``, ``height``: the frame's size.

    Ultralytics scales by r = min(in_w / width, in_h / height), resizes to (round(width r),
    round(height r)) and puts the result at left = round(dw / 2 - 0.1), top = round(dh / 2 - 0.1)
    (dw, dh: the padding in input pixels; Python's round). The region is that placement: the
    frame's ``width`` source pixels span exactly the resized width, so the scale of each axis is
    the resize's own (``nw / width``, ``nh / height``, not r: they differ by the rounding), which is
    also how Ultralytics maps boxes and keypoints back. Keypoints are clipped to the frame with
    ``width`` and ``height``.
    """

    width: int = 0
    height: int = 0


def full_region(width: int, height: int, in_w: int, in_h: int) -> Region:
    """The centred region with the input's aspect ratio that just contains the whole frame."""
    scale = max(width / in_w, height / in_h)
    w, h = in_w * scale, in_h * scale
    return Region((width - w) / 2.0, (height - h) / 2.0, w, h)


def letterbox(width: int, height: int, in_w: int, in_h: int) -> Letterbox:
    """The whole frame placed as Ultralytics' ``LetterBox`` places it (see :class:`Letterbox`)."""
    r = min(in_w / width, in_h / height)
    nw, nh = max(1, round(width * r)), max(1, round(height * r))
    left, top = round((in_w - nw) / 2 - 0.1), round((in_h - nh) / 2 - 0.1)
    gx, gy = width / nw, height / nh  # source pixels per input pixel, per axis
    return Letterbox(-left * gx, -top * gy, in_w * gx, in_h * gy, width, height)


@dataclass(frozen=True, slots=True)
class InputConvention:
    """What a model expects of its input, stated by its decoder and read by the estimator once.

    ``pad``: the value of padding pixels (0 black; Ultralytics pads with gray 114).
    ``placement``: ``centred`` (:func:`full_region`, the crop region on video) or ``ultralytics``
    (:func:`letterbox`, the whole frame every time). ``value_range`` of float inputs: ``signed``
    [-1, 1] (pixel / 127.5 - 1) or ``unit`` [0, 1] (pixel / 255); a quantized input applies its
    own scale and zero point to that value (int8 and uint8 inputs with ``signed`` keep edgepose's
    long-standing rule: uint8 as it is, int8 pixel - 128).
    """

    pad: int = 0
    placement: Literal["centred", "ultralytics"] = "centred"
    value_range: Literal["signed", "unit"] = "signed"

    def region(self, width: int, height: int, in_w: int, in_h: int) -> Region:
        """Where the whole frame goes in the input."""
        if self.placement == "ultralytics":
            return letterbox(width, height, in_w, in_h)
        return full_region(width, height, in_w, in_h)


DEFAULT_CONVENTION = InputConvention()


def input_geometry(shape: tuple[int, ...]) -> tuple[int, int, bool]:
    """(height, width, channels_first) of an image input ``[1, H, W, 3]`` or ``[1, 3, H, W]``.

    NCHW is recognised by 3 channels in second place and not in last (a 3-pixel-wide NHWC input
    would be ambiguous: none exists). Today's Ultralytics TFLite exports are NCHW, older ones NHWC.
    """
    if len(shape) == 4 and shape[1] == 3 and shape[3] != 3:
        return shape[2], shape[3], True
    return shape[1], shape[2], False


def cut(
    image: np.ndarray,
    region: Region,
    in_w: int,
    in_h: int,
    out: np.ndarray | None = None,
    method: Resize | None = None,
    pad: int = 0,
) -> np.ndarray:
    """Resample ``region`` of an RGB image to ``(in_h, in_w, 3)`` uint8, ``pad`` outside the image.

    ``out`` may be a preallocated buffer reused frame after frame (no per-frame allocation): the
    resampled part is written straight into it and only the padding around it is filled.
    ``method`` is one of :data:`edgepose.estimation.resize.METHODS` (the estimator passes ``model.resize``);
    None: :func:`resize`, plain bilinear, the same bytes as ``edgepose.estimation.resize.bilinear``.
    """
    height, width = image.shape[:2]
    fresh = out is None
    if out is None:
        out = np.full((in_h, in_w, 3), pad, np.uint8)
    sx, sy = in_w / region.w, in_h / region.h  # input pixels per source pixel
    # The part of the region that lies on the image, in source pixels ...
    x0, y0 = max(region.x, 0.0), max(region.y, 0.0)
    x1, y1 = min(region.x + region.w, float(width)), min(region.y + region.h, float(height))
    dx0 = dy0 = dx1 = dy1 = 0
    if x1 > x0 and y1 > y0:  # ... and where it lands in the input.
        dx0 = round((x0 - region.x) * sx)
        dy0 = round((y0 - region.y) * sy)
        dx1 = min(in_w, round((x1 - region.x) * sx))
        dy1 = min(in_h, round((y1 - region.y) * sy))
    if dx1 <= dx0 or dy1 <= dy0:
        if not fresh:
            out[...] = pad
        return out
    if not fresh:  # padding: the bands above, below, left and right of the image's part
        out[:dy0] = pad
        out[dy1:] = pad
        out[dy0:dy1, :dx0] = pad
        out[dy0:dy1, dx1:] = pad
    src = image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
    (method or resize)(src, dx1 - dx0, dy1 - dy0, out[dy0:dy1, dx0:dx1])
    return out


def resize(image: np.ndarray, width: int, height: int, out: np.ndarray | None = None) -> np.ndarray:
    """Bilinear resize, with Gaussian halvings (``pyrDown``) first for shrinks of 4x and more.

    Bilinear without anti-aliasing is what TensorFlow's ``resize_with_pad`` does, so what the
    models were trained and published with at COCO-like scales (up to about 4x): on the MoveNet
    golden image it is closest to Google's reference (mean 0.009, max 0.038 of the image size;
    ``INTER_AREA`` gives 0.012 / 0.036 at 16x the cost, 1.47 ms vs 0.09 ms for 500x610 to
    157x192). Past 4x, bilinear sampling aliases badly (a 720p camera frame is 6.7x a MoveNet
    input), so the image is halved with a Gaussian first: still 5x cheaper than ``INTER_AREA``.

    ``out``: a ``(height, width, 3)`` uint8 array (a view of a larger buffer is fine) written in
    place and returned, saving a copy of the result.
    """
    if image.shape[1] == width and image.shape[0] == height:
        if out is None:
            return image
        out[...] = image
        return out
    if cv2 is None:
        resized = resize_numpy(image, width, height)
    else:
        while image.shape[1] >= 4 * width and image.shape[0] >= 4 * height:
            image = cv2.pyrDown(image)
        packed = out is not None and out.dtype == image.dtype and out.strides[1:] == (out.shape[2], 1)
        dst = out if packed else None  # OpenCV writes in place only into rows of packed pixels
        resized = cv2.resize(image, (width, height), dst=dst, interpolation=cv2.INTER_LINEAR)
    if out is None:
        return resized
    if resized is not out:  # OpenCV reallocated (or NumPy resized): copy into place
        out[...] = resized
    return out


def resize_numpy(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize in NumPy with half-pixel centres (OpenCV's convention)."""
    h, w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * (h / height) - 0.5, 0, h - 1)
    xs = np.clip((np.arange(width) + 0.5) * (w / width) - 0.5, 0, w - 1)
    y0 = np.floor(ys).astype(np.intp)
    x0 = np.floor(xs).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy = (ys - y0)[:, None, None].astype(np.float32)
    wx = (xs - x0)[None, :, None].astype(np.float32)
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return np.clip(top * (1 - wy) + bottom * wy + 0.5, 0, 255).astype(np.uint8)


def to_input_dtype(
    rgb: np.ndarray,
    dtype: np.dtype,
    scale: float = 0.0,
    zero_point: int = 0,
    value_range: Literal["signed", "unit"] = "signed",
    channels_first: bool = False,
) -> np.ndarray:
    """Cast a ``(H, W, 3)`` uint8 image to the model's input dtype, batched ``(1, H, W, 3)``
    (``(1, 3, H, W)`` when ``channels_first``).

    ``signed`` (MoveNet, PoseNet): uint8 models take pixels as they are; int8 models take
    ``pixel - 128``; float models take pixels scaled to [-1, 1] unless the input is quantized, in
    which case its own parameters apply. ``unit`` (YOLO-pose): pixel / 255 in float32, or that
    value quantized with the input's scale and zero point (rounded to nearest, clipped).
    """
    if value_range == "unit":
        return _unit_input(rgb, np.dtype(dtype), scale, zero_point, channels_first)
    if channels_first:
        rgb = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    batch = rgb[None]
    if dtype == np.uint8:
        return batch
    if dtype == np.int8:  # pixel - 128 in two's complement is the pixel with its top bit flipped: one pass
        return (batch ^ np.uint8(0x80)).view(np.int8)
    if scale:
        return np.round(batch / scale + zero_point).astype(dtype)
    return (batch.astype(np.float32) / 127.5 - 1.0).astype(dtype)


def _unit_input(rgb: np.ndarray, dtype: np.dtype, scale: float, zero_point: int, channels_first: bool) -> np.ndarray:
    """pixel / 255 as the model's input: float32 as Ultralytics computes it, or quantized by a
    256-entry table (uint8 with scale 1/255 and zero point 0, and int8 with zero point -128, are
    the pixel itself and the pixel with its top bit flipped: no table)."""
    view = rgb.transpose(2, 0, 1) if channels_first else rgb
    if dtype.kind == "f" and not scale:
        out = np.empty((1, *view.shape), np.float32)
        np.divide(view, np.float32(255.0), out=out[0], dtype=np.float32)
        return out if dtype == np.float32 else out.astype(dtype)
    if not scale:
        raise ValueError(f"a {dtype} model input needs quantization parameters")
    pixels = np.arange(256, dtype=np.float64)
    levels = np.round(pixels / 255.0 / scale + zero_point)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        levels = np.clip(levels, info.min, info.max)
    table = levels.astype(dtype)
    if dtype == np.uint8 and np.array_equal(table, pixels):
        return np.ascontiguousarray(view)[None]
    if dtype == np.int8 and np.array_equal(table, pixels - 128):
        return (np.ascontiguousarray(view)[None] ^ np.uint8(0x80)).view(np.int8)
    return table[view][None]


@dataclass(frozen=True, slots=True)
class InputTensor:
    """A model input written in place frame after frame: the resampled pixels and the tensor the engine reads.

    ``pixels``: ``(H, W, 3)`` uint8, what :func:`cut` writes (resize straight into it, padding
    bands around). ``tensor``: ``(1, H, W, 3)`` or ``(1, 3, H, W)`` in the model's dtype, what
    :func:`to_input_dtype` would return for those pixels. ``mode`` says how one becomes the other
    (:func:`input_tensor` picks it): ``view``, the tensor *is* the pixels (uint8 NHWC: MoveNet,
    PoseNet), nothing to do; ``flip``, the tensor is the pixels seen as int8 with their top bit
    flipped in place (int8 ``pixel - 128``); ``divide``, float32 pixel / 255 (YOLO-pose) straight
    into the tensor; ``table``, every other input, through ``table``, the 256 values
    :func:`to_input_dtype` gives the 256 levels, so the tensor is the same to the last bit.
    """

    pixels: np.ndarray
    tensor: np.ndarray
    mode: Literal["view", "flip", "divide", "table"]
    table: np.ndarray
    channels_first: bool = False


def conversion_table(
    dtype: np.dtype,
    scale: float = 0.0,
    zero_point: int = 0,
    value_range: Literal["signed", "unit"] = "signed",
) -> np.ndarray:
    """The ``(256,)`` values of ``dtype`` that :func:`to_input_dtype` turns pixel levels 0..255 into.

    Conversion is a function of each byte alone, so a table of it is exact by construction.
    """
    levels = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
    return np.ascontiguousarray(to_input_dtype(levels, dtype, scale, zero_point, value_range)[0, 0, :, 0])


def input_tensor(
    in_h: int,
    in_w: int,
    dtype: np.dtype,
    scale: float = 0.0,
    zero_point: int = 0,
    value_range: Literal["signed", "unit"] = "signed",
    channels_first: bool = False,
) -> InputTensor:
    """A reusable :class:`InputTensor` for a model input of this size, dtype, quantization and layout."""
    dtype = np.dtype(dtype)
    table = conversion_table(dtype, scale, zero_point, value_range)
    pixels = np.zeros((in_h, in_w, 3), np.uint8)
    levels = np.arange(256)
    if not channels_first and dtype == np.uint8 and np.array_equal(table, levels):
        return InputTensor(pixels, pixels[None], "view", table)
    if not channels_first and dtype == np.int8 and np.array_equal(table, levels - 128):
        return InputTensor(pixels, pixels.view(np.int8)[None], "flip", table)
    shape = (1, 3, in_h, in_w) if channels_first else (1, in_h, in_w, 3)
    tensor = np.zeros(shape, dtype)
    mode: Literal["divide", "table"] = "table"
    if value_range == "unit" and dtype == np.float32 and not scale:
        mode = "divide"  # NumPy's float32 divide: 0.75-0.85 of the table's time (NCHW 640, NHWC 256)
    return InputTensor(pixels, tensor, mode, table, channels_first)


def convert(target: InputTensor) -> np.ndarray:
    """Turn ``target.pixels`` into ``target.tensor`` in place (no allocation) and return the tensor."""
    mode = target.mode
    if mode == "view":
        return target.tensor
    if mode == "flip":  # pixel - 128 in two's complement is the pixel with its top bit flipped
        np.bitwise_xor(target.pixels, np.uint8(0x80), out=target.pixels)
        return target.tensor
    pixels = target.pixels.transpose(2, 0, 1) if target.channels_first else target.pixels
    if mode == "divide":
        np.divide(pixels, np.float32(255.0), out=target.tensor[0], dtype=np.float32)
    elif cv2 is not None and not target.channels_first and target.table.dtype in _LUT_DTYPES:
        # OpenCV's SIMD lookup straight into the tensor: a third of NumPy's arithmetic for float32 [-1, 1]
        h = pixels.shape[0]
        dst = target.tensor[0].reshape(h, -1)
        got = cv2.LUT(pixels.reshape(h, -1), target.table, dst=dst)
        if got is not dst and not np.shares_memory(got, dst):  # pragma: no cover - OpenCV reallocated
            dst[...] = got
    else:
        np.take(target.table, pixels, out=target.tensor[0])
    return target.tensor


_LUT_DTYPES = frozenset(np.dtype(t) for t in (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64))


def fill_input(
    image: np.ndarray, region: Region, target: InputTensor, method: Resize | None = None, pad: int = 0
) -> np.ndarray:
    """Cut ``region`` of an RGB ``image`` into ``target`` and convert it in place; returns ``target.tensor``.

    The same tensor as ``to_input_dtype(cut(image, region, ...), ...)`` (tests hold them equal to
    the bit), written into the same arrays every frame: for uint8 NHWC inputs (MoveNet, PoseNet)
    the resize writes the tensor itself, for the others one more pass over the input converts it.
    """
    in_h, in_w = target.pixels.shape[:2]
    cut(image, region, in_w, in_h, target.pixels, method, pad)
    return convert(target)
