"""YOLO-pose post-processing in NumPy: threshold, sort, NMS and the way back to source pixels.

The reference twin of :func:`edgepose.kernels.yolo_pose_compiled.yolo_pose` (same signature, same
results; a test holds them equal). One call does everything after the invoke, for both of
Ultralytics' output layouts:

- ``channels_first`` (``[56, N]``, YOLOv8/YOLO11 pose): one column per anchor, rows box cx, cy, w,
  h, person score, then 17 x (x, y, score) from row ``kp_start`` = 5. ``corners`` False, ``nms``
  True.
- rows (``[K, 57]``, end-to-end exports such as YOLO26-pose): one row per detection, box x1, y1,
  x2, y2, score, class, then 17 x (x, y, score) from column ``kp_start`` = 6. ``corners`` True,
  ``nms`` False (the model has done it).

``raw`` is the output as the model gives it (float32, or int8/uint8 with ``scale`` and
``zero_point``; ``scale`` 0: not quantized). Only the score row is read for every anchor; the
other values only for candidates scoring above ``conf`` (Ultralytics keeps score > conf), so the
cost follows the people, not the anchors. Values are dequantized as :meth:`TensorSpec.dequantize`
does (``(q - zero_point) * scale`` in float32).

Units: coordinates normalized to the input (Ultralytics' TFLite export) are scaled by ``in_w`` and
``in_h`` as Ultralytics does; a model that writes input pixels (other converters) is recognised by
a candidate's box coordinate above 2 (no normalized box reaches twice the input) and left as it is.

Ties: candidates are ordered by score, highest first, with a stable sort, so equal scores keep
anchor order (the lower anchor index, i.e. finer stride then row-major position, goes first) and
the first of a tied group survives NMS. Greedy NMS suppresses a box whose IoU with a kept one is
above ``iou``; at most ``max_det`` are kept.

Mapping back: x = ``mapping[0]`` + x_input * ``mapping[1]``, y = ``mapping[2]`` + y_input *
``mapping[3]`` (source pixels), then boxes and keypoints are clipped to [0, ``mapping[4]``] and
[0, ``mapping[5]``] (inf: no clip; NaN becomes 0).

Returns ``(keypoints (K, 17, 3), boxes (K, 4) x1, y1, x2, y2, scores (K,), finite)``, float32,
best first; ``finite`` is False when a value it read from a float output is NaN or inf (then
nothing else is meaningful).
"""

from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 17
PIXEL_UNITS_ABOVE = 2.0  # a box coordinate beyond this is in input pixels, not normalized


def _dequantize(values: np.ndarray, scale: float, zero_point: float) -> np.ndarray:
    if scale == 0.0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def _empty(finite: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    return (np.zeros((0, NUM_KEYPOINTS, 3), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), finite)


def _clip(values: np.ndarray, hi: float) -> np.ndarray:
    """``values`` within [0, hi], NaN to 0 (as the compiled twin's comparisons do)."""
    return np.where(values >= 0.0, np.minimum(values, hi), 0.0)


def iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU (float64) of one ``(4,)`` x1, y1, x2, y2 box with each of ``(M, 4)``; 0 where the union is empty."""
    b = box.astype(np.float64)
    o = boxes.astype(np.float64)
    w = np.maximum(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), 0.0)
    h = np.maximum(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), 0.0)
    inter = w * h
    union = (b[2] - b[0]) * (b[3] - b[1]) + (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]) - inter
    out = np.zeros(len(o))
    np.divide(inter, union, out=out, where=union > 0.0)
    return out


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
    score_row = raw[4] if channels_first else raw[:, 4]
    scores = _dequantize(score_row, scale, zero_point)
    if scale == 0.0 and not np.isfinite(scores).all():
        return _empty(False)
    picked = np.flatnonzero(scores > np.float32(conf))  # in float32, as Ultralytics compares
    if len(picked) == 0:
        return _empty(True)
    columns = raw[:, picked].T if channels_first else raw[picked]
    values = _dequantize(columns[:, : kp_start + 3 * NUM_KEYPOINTS], scale, zero_point)  # (M, C)
    if scale == 0.0 and not np.isfinite(values).all():
        return _empty(False)
    scores = scores[picked]
    box = values[:, :4]
    kps = values[:, kp_start : kp_start + 3 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 3)
    xs, ys = kps[:, :, 0].copy(), kps[:, :, 1].copy()
    if not np.abs(box).max() > PIXEL_UNITS_ABOVE:  # normalized: to input pixels, in float32 as Ultralytics
        box = box * np.array([in_w, in_h, in_w, in_h], np.float32)
        xs *= np.float32(in_w)
        ys *= np.float32(in_h)
    if corners:
        boxes = box.copy()
    else:
        half_w, half_h = box[:, 2] / np.float32(2.0), box[:, 3] / np.float32(2.0)
        boxes = np.stack([box[:, 0] - half_w, box[:, 1] - half_h, box[:, 0] + half_w, box[:, 1] + half_h], axis=1)
    order = np.argsort(-scores, kind="stable")  # ties keep anchor order
    keep: list[int] = []
    if nms:
        suppressed = np.zeros(len(order), bool)
        for rank, i in enumerate(order):
            if len(keep) >= max_det:
                break
            if suppressed[rank]:
                continue
            keep.append(int(i))
            later = order[rank + 1 :]
            suppressed[rank + 1 :] |= iou_one(boxes[i], boxes[later]) > iou
    else:
        keep = [int(i) for i in order[:max_det]]
    k = np.array(keep, np.intp)
    ox, gx, oy, gy, clip_w, clip_h = (float(v) for v in mapping)
    out_kp = np.empty((len(k), NUM_KEYPOINTS, 3), np.float32)
    out_kp[:, :, 0] = _clip(ox + xs[k].astype(np.float64) * gx, clip_w)
    out_kp[:, :, 1] = _clip(oy + ys[k].astype(np.float64) * gy, clip_h)
    out_kp[:, :, 2] = _clip(kps[k, :, 2].astype(np.float64), 1.0)
    b = boxes[k].astype(np.float64)
    out_box = np.empty((len(k), 4), np.float32)
    out_box[:, 0::2] = _clip(ox + b[:, 0::2] * gx, clip_w)
    out_box[:, 1::2] = _clip(oy + b[:, 1::2] * gy, clip_h)
    return out_kp, out_box, scores[k].astype(np.float32), True
