"""The Numba twin of :func:`edgepose.kernels.yolo_pose.yolo_pose` (same signature, same results).

Import this module only through :func:`edgepose.kernels.load_kernels`, which sets the cache
directory before Numba is first imported. One pass over the score row picks the candidates; only
their columns are read and dequantized. Compiled once per output dtype (float32, int8, uint8):
the decoder warms up the one its model gives.
"""

from __future__ import annotations

import numba
import numpy as np

from edgepose.kernels.flags import JIT_OPTIONS
from edgepose.kernels.yolo_pose import NUM_KEYPOINTS, PIXEL_UNITS_ABOVE

jit = numba.jit(**JIT_OPTIONS)


@jit
def _value(raw: np.ndarray, channels_first: bool, candidate: int, channel: int, scale: float, zero: float) -> float:
    q = raw[channel, candidate] if channels_first else raw[candidate, channel]
    if scale == 0.0:
        return np.float32(q)
    return (np.float32(q) - np.float32(zero)) * np.float32(scale)


@jit
def _clip(v: float, hi: float) -> float:
    if not v >= 0.0:
        return 0.0
    return hi if v > hi else v


@jit
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(np.float64(a[2]), np.float64(b[2])) - max(np.float64(a[0]), np.float64(b[0]))
    h = min(np.float64(a[3]), np.float64(b[3])) - max(np.float64(a[1]), np.float64(b[1]))
    w = max(w, 0.0)
    h = max(h, 0.0)
    inter = w * h
    area_a = (np.float64(a[2]) - np.float64(a[0])) * (np.float64(a[3]) - np.float64(a[1]))
    area_b = (np.float64(b[2]) - np.float64(b[0])) * (np.float64(b[3]) - np.float64(b[1]))
    union = area_a + area_b - inter
    return inter / union if union > 0.0 else 0.0


@jit
def yolo_pose(
    raw: np.ndarray,
    channels_first: bool,
    kp_start: int,
    corners: bool,
    nms: bool,
    scale: float,
    zero_point: float,
    conf: float,
    iou: float,
    max_det: int,
    in_w: float,
    in_h: float,
    mapping: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    n = raw.shape[1] if channels_first else raw.shape[0]
    picked = np.empty(n, np.int64)
    threshold = np.float32(conf)
    m = 0
    for j in range(n):
        s = _value(raw, channels_first, j, 4, scale, zero_point)
        if scale == 0.0 and not np.isfinite(s):
            return (
                np.zeros((0, NUM_KEYPOINTS, 3), np.float32),
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                False,
            )
        if s > threshold:
            picked[m] = j
            m += 1
    scores = np.empty(m, np.float32)
    box = np.empty((m, 4), np.float32)
    kps = np.empty((m, NUM_KEYPOINTS, 3), np.float32)
    largest = 0.0
    for i in range(m):
        j = picked[i]
        scores[i] = _value(raw, channels_first, j, 4, scale, zero_point)
        for c in range(4):
            v = _value(raw, channels_first, j, c, scale, zero_point)
            box[i, c] = v
            if scale == 0.0 and not np.isfinite(v):
                return (
                    np.zeros((0, NUM_KEYPOINTS, 3), np.float32),
                    np.zeros((0, 4), np.float32),
                    np.zeros(0, np.float32),
                    False,
                )
            largest = max(largest, abs(v))
        for k in range(NUM_KEYPOINTS):
            for c in range(3):
                v = _value(raw, channels_first, j, kp_start + 3 * k + c, scale, zero_point)
                if scale == 0.0 and not np.isfinite(v):
                    return (
                        np.zeros((0, NUM_KEYPOINTS, 3), np.float32),
                        np.zeros((0, 4), np.float32),
                        np.zeros(0, np.float32),
                        False,
                    )
                kps[i, k, c] = v
    if not largest > PIXEL_UNITS_ABOVE:  # normalized: to input pixels, in float32 as Ultralytics
        sw, sh = np.float32(in_w), np.float32(in_h)
        for i in range(m):
            box[i, 0] *= sw
            box[i, 1] *= sh
            box[i, 2] *= sw
            box[i, 3] *= sh
            for k in range(NUM_KEYPOINTS):
                kps[i, k, 0] *= sw
                kps[i, k, 1] *= sh
    boxes = np.empty((m, 4), np.float32)
    for i in range(m):
        if corners:
            for c in range(4):
                boxes[i, c] = box[i, c]
        else:
            half_w, half_h = box[i, 2] / np.float32(2.0), box[i, 3] / np.float32(2.0)
            boxes[i, 0] = box[i, 0] - half_w
            boxes[i, 1] = box[i, 1] - half_h
            boxes[i, 2] = box[i, 0] + half_w
            boxes[i, 3] = box[i, 1] + half_h
    order = np.argsort(-scores, kind="mergesort")  # stable: ties keep anchor order
    keep = np.empty(min(m, max(max_det, 0)), np.int64)
    kept = 0
    for rank in range(m):
        if kept >= max_det:
            break
        i = order[rank]
        if nms:
            alive = True
            for t in range(kept):
                if _iou(boxes[i], boxes[keep[t]]) > iou:
                    alive = False
                    break
            if not alive:
                continue
        keep[kept] = i
        kept += 1
    ox, gx, oy, gy, clip_w, clip_h = mapping[0], mapping[1], mapping[2], mapping[3], mapping[4], mapping[5]
    out_kp = np.empty((kept, NUM_KEYPOINTS, 3), np.float32)
    out_box = np.empty((kept, 4), np.float32)
    out_scores = np.empty(kept, np.float32)
    for r in range(kept):
        i = keep[r]
        out_scores[r] = scores[i]
        for k in range(NUM_KEYPOINTS):
            out_kp[r, k, 0] = _clip(ox + np.float64(kps[i, k, 0]) * gx, clip_w)
            out_kp[r, k, 1] = _clip(oy + np.float64(kps[i, k, 1]) * gy, clip_h)
            out_kp[r, k, 2] = _clip(np.float64(kps[i, k, 2]), 1.0)
        out_box[r, 0] = _clip(ox + np.float64(boxes[i, 0]) * gx, clip_w)
        out_box[r, 1] = _clip(oy + np.float64(boxes[i, 1]) * gy, clip_h)
        out_box[r, 2] = _clip(ox + np.float64(boxes[i, 2]) * gx, clip_w)
        out_box[r, 3] = _clip(oy + np.float64(boxes[i, 3]) * gy, clip_h)
    return out_kp, out_box, out_scores, True
