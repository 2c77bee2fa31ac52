"""The landmark model's outputs: 39 landmarks, heatmap refinement, mapping back to the frame.

The model reads a rotated square (:class:`~edgepose.decode.blazepose.region.RotatedRect`) resampled
to its input and gives, per landmark, ``(x, y, z, visibility, presence)``: x, y, z in input pixels
of the crop (z at the scale of x, negative towards the camera, 0 at the hips), visibility and
presence as logits. Landmarks 0-32 are the body (:data:`LANDMARK_NAMES`); 33-34 are auxiliary
points (a centre and a scale point) that give the next frame's region on video. The world
output is 39 x (x, y, z) in metres, origin between the hips, in the crop's orientation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgepose.decode.blazepose.activation import sigmoid
from edgepose.decode.blazepose.region import RotatedRect

LANDMARK_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)  # 33
NUM_OUTPUT_LANDMARKS = 39  # with the auxiliary ones
AUXILIARY = (33, 34)  # centre and scale point of the next frame's region

# COCO-17 keypoint k is BlazePose landmark COCO_LANDMARKS[k] (edgepose.keypoints order).
COCO_LANDMARKS: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

# Lines drawn between landmarks (MediaPipe's POSE_CONNECTIONS), as published in ``meta``.
LANDMARK_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
)

# MediaPipe's RefineLandmarksFromHeatmapCalculator as the 0.10.14 pose graph runs it: a 9x9
# window, refined where the window's sigmoid peak reaches 0.5 (7x7 is 3-4x further from the
# reference on the test images).
HEATMAP_KERNEL = 9
HEATMAP_MIN_CONFIDENCE = 0.5


def decode_landmarks(raw: np.ndarray, in_w: int, in_h: int) -> np.ndarray:
    """``(39, 5)`` float32 ``(x, y, z, visibility, presence)``: x, y normalized to the crop, z by its width.

    raw: the landmark output, 39 x 5 values in any ``(1, 195)``-like shape.
    """
    values = np.asarray(raw, np.float32).reshape(-1, 5)
    if len(values) != NUM_OUTPUT_LANDMARKS:
        raise ValueError(f"landmark output has {len(values)} landmarks, expected {NUM_OUTPUT_LANDMARKS}")
    out = np.empty_like(values)
    out[:, 0] = values[:, 0] / np.float32(in_w)
    out[:, 1] = values[:, 1] / np.float32(in_h)
    out[:, 2] = values[:, 2] / np.float32(in_w)
    out[:, 3:5] = sigmoid(values[:, 3:5])
    return out


def refine_with_heatmap(
    xy: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = HEATMAP_KERNEL,
    min_confidence: float = HEATMAP_MIN_CONFIDENCE,
    channels: Sequence[int] | None = None,
) -> np.ndarray:
    """``(L, 2)`` positions normalized to the crop, moved to the heatmap's local centre of mass.

    heatmap: ``(H, W, C)`` logits (a leading batch axis of 1 is dropped); ``xy`` holds the positions
    of its ``channels`` (default: all C, in order), so a few landmarks are refined without reading
    the rest of the map (each reads only its own channel, as when all are refined). For each landmark, the
    ``kernel`` x ``kernel`` cells around the one it falls in (cells off the map weigh 0) weigh their
    indices by their sigmoid; where the largest weight reaches ``min_confidence`` the position
    becomes ``(weighted column / W, weighted row / H)`` (cell corners, as MediaPipe does). A
    landmark off the map, or whose window is unsure, keeps its regressed position.

    This runs on every invoke, and at 39 windows of 81 cells NumPy's cost is per call, not per
    cell: all windows are read with one flat gather and weighed in place. The sums keep the plain
    version's dtypes and reductions (float32 weights, float64 moments, each ``(L, k, k)`` array
    summed over its last two axes), so the result is the same to the bit
    (tests/test_blazepose_refine.py holds that version).
    """
    hm = np.asarray(heatmap, np.float32)
    if hm.ndim == 4:
        hm = hm[0]
    hm_h, hm_w, depth = hm.shape
    xy = np.asarray(xy, np.float32)
    chosen = np.arange(depth) if channels is None else np.asarray(channels, np.intp).reshape(-1)
    if len(xy) != len(chosen):
        raise ValueError(f"{len(xy)} landmarks for a heatmap of {len(chosen)} channels")
    if not ((chosen >= 0) & (chosen < depth)).all():
        raise ValueError(f"heatmap channels {chosen.tolist()} are not among its {depth}")
    out = xy.copy()
    size = np.array([hm_w, hm_h], np.uintp)
    # astype is C's float-to-int conversion, which truncates towards zero: -0.5 of a cell is cell 0, inside.
    cell = (xy * size.astype(np.float32)).astype(np.intp)  # (L, 2) column, row
    # Viewed unsigned, a negative index is huge: one comparison tests both ends of the map.
    inside = (cell.view(np.uintp) < size).all(axis=1)
    if not inside.any():
        return out
    half = (kernel - 1) // 2
    steps = np.arange(-half, half + 1)
    win = cell[:, :, None] + steps  # (L, 2, k): the columns, then the rows, of each window
    # Cell (row, col) of channel c is hm.reshape(-1)[(row * W + col) * L + c]. Every landmark's
    # window is read, an off-map landmark's too (it is never refined). A cell off the map has the
    # index of some other cell, or one past the array's ends that mode="clip" pulls back in:
    # whatever it reads is zeroed below.
    row_stride = hm_w * depth
    centre = cell @ np.array([depth, row_stride]) + chosen  # (L,) flat index of the centre
    flat = centre[:, None, None] + (steps[:, None] * row_stride + steps * depth)  # (L, k, k)
    logits = hm.reshape(-1).take(flat, mode="clip")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # activation.sigmoid with fewer temporaries: a logit of -100 gives 0 without a warning.
        weight = np.exp(np.negative(logits, out=logits))
        weight += np.float32(1.0)
        np.divide(np.float32(1.0), weight, out=weight)
        off = win.view(np.uintp) >= size[:, None]  # (L, 2, k): window columns, rows off the map
        if off.any():
            weight.transpose(0, 2, 1)[off[:, 0]] = np.float32(0.0)
            weight[off[:, 1]] = np.float32(0.0)
        total = weight.sum(axis=(1, 2))
        refine = (weight.max(axis=(1, 2)) >= min_confidence) & (total > 0) & inside
        if not refine.any():
            return out
        # float32 weights times integer indices: float64 moments (NumPy's promotion, kept).
        w64 = weight.astype(np.float64)
        x = (w64 * win[:, 0, None, :]).sum(axis=(1, 2)) / np.float64(hm_w) / total
        y = (w64 * win[:, 1, :, None]).sum(axis=(1, 2)) / np.float64(hm_h) / total
    out[refine, 0] = x[refine]
    out[refine, 1] = y[refine]
    return out


def project(landmarks: np.ndarray, rect: RotatedRect) -> np.ndarray:
    """``(L, 5)`` landmarks normalized to the crop as ``(L, 5)`` in source pixels.

    x and y go through the rect's rotation and size; z is scaled as x (times the rect's width);
    visibility and presence are kept.
    """
    out = np.array(landmarks, np.float32)
    out[:, :2] = rect.to_source(landmarks[:, :2])
    out[:, 2] = landmarks[:, 2] * np.float32(rect.width)
    return out


def world_landmarks(raw: np.ndarray, rotation: float) -> np.ndarray:
    """``(39, 3)`` float32 world landmarks in metres, turned by the crop's ``rotation`` (about z).

    raw: the world output, 39 x 3 values in any ``(1, 117)``-like shape. The model gives them in
    the upright crop's frame; turning them as the crop was turned puts them in the camera's.
    """
    values = np.asarray(raw, np.float32).reshape(-1, 3)
    if len(values) != NUM_OUTPUT_LANDMARKS:
        raise ValueError(f"world output has {len(values)} landmarks, expected {NUM_OUTPUT_LANDMARKS}")
    c, s = np.float32(np.cos(rotation)), np.float32(np.sin(rotation))
    out = values.copy()
    out[:, 0] = c * values[:, 0] - s * values[:, 1]
    out[:, 1] = s * values[:, 0] + c * values[:, 1]
    return out
