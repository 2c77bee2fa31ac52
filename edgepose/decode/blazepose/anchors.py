"""SSD anchors of MediaPipe's pose detector, generated from the documented options.

MediaPipe's ``SsdAnchorsCalculator`` builds the anchors from a handful of options instead of
shipping them; the pose detector's are :data:`POSE_DETECTOR`. Only the centres matter here: with
``fixed_anchor_size`` every anchor is 1 x 1, so box sizes are the raw values divided by the input
size. Layers that share a stride are merged (their anchors interleave per cell), which is how
5 layers give 28x28x2 + 14x14x2 + 7x7x6 = 2254 anchors for a 224 input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class AnchorOptions:
    """The options of ``SsdAnchorsCalculator`` that the pose detector sets (others at their defaults)."""

    input_width: int
    input_height: int
    strides: tuple[int, ...]
    min_scale: float
    max_scale: float
    offset_x: float = 0.5
    offset_y: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0  # > 0: one more anchor per layer at sqrt(scale * next scale)
    fixed_anchor_size: bool = True

    def __post_init__(self) -> None:
        if not self.strides or min(self.strides) < 1:
            raise ValueError(f"strides must be positive, got {self.strides}")
        if self.input_width < 1 or self.input_height < 1:
            raise ValueError(f"input size must be positive, got {self.input_width}x{self.input_height}")


# mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt (0.10.14)
POSE_DETECTOR = AnchorOptions(224, 224, (8, 16, 32, 32, 32), 0.1484375, 0.75)


def _scale(options: AnchorOptions, layer: int) -> float:
    n = len(options.strides)
    if n == 1:
        return (options.min_scale + options.max_scale) / 2
    return options.min_scale + (options.max_scale - options.min_scale) * layer / (n - 1)


def ssd_anchors(options: AnchorOptions) -> np.ndarray:
    """``(N, 4)`` float32 anchors ``(x_centre, y_centre, width, height)``, normalized to the input.

    The order is MediaPipe's: stride groups in turn, cells row-major, the group's anchors per cell.
    """
    strides = options.strides
    rows: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < len(strides):
        sizes: list[tuple[float, float]] = []  # (width, height) of each anchor of a cell
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(options, last)
            for ratio in options.aspect_ratios:
                sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
            if options.interpolated_scale_aspect_ratio > 0:
                following = 1.0 if last == len(strides) - 1 else _scale(options, last + 1)
                s = math.sqrt(scale * following)
                r = math.sqrt(options.interpolated_scale_aspect_ratio)
                sizes.append((s * r, s / r))
            last += 1
        fw = math.ceil(options.input_width / strides[layer])
        fh = math.ceil(options.input_height / strides[layer])
        for y in range(fh):
            for x in range(fw):
                cx, cy = (x + options.offset_x) / fw, (y + options.offset_y) / fh
                for w, h in sizes:
                    rows.append((cx, cy, 1.0, 1.0) if options.fixed_anchor_size else (cx, cy, w, h))
        layer = last
    return np.array(rows, np.float32)
