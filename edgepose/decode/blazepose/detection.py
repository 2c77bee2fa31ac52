"""The pose detector's outputs: decoding against the anchors, and MediaPipe's weighted NMS.

Coordinates here are normalized to the detector input (x / width, y / height of the letterboxed
square); :func:`to_source` maps them to source pixels through the region the input was cut from.
Each detection has a box and 4 keypoints: 0 the mid-hip centre, 1 a point that gives the body's
size and direction (the pair the region is built from), 2 and 3 the same for the upper body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.decode.blazepose.activation import sigmoid
from edgepose.estimation.preprocess import Region


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    """``TensorsToDetectionsCalculator`` and ``NonMaxSuppressionCalculator`` options of MediaPipe's pose detector."""

    num_keypoints: int = 4
    scale: float = 224.0  # x, y, w and h scales: raw values are input pixels
    score_clip: float = 100.0  # logits are clipped to +-this before the sigmoid
    min_score: float = 0.5  # detections scoring below are dropped
    iou_threshold: float = 0.3  # weighted NMS: candidates overlapping the best by more are merged into it
    max_detections: int = 1  # the landmark model follows one person: the first detection


POSE_DETECTOR_OPTIONS = DetectorOptions()


@dataclass(frozen=True, slots=True)
class Detections:
    """People found by the detector, best first (normalized to the detector input).

    boxes: ``(N, 4)`` float32 ``(x0, y0, x1, y1)``; keypoints: ``(N, K, 2)`` float32 ``(x, y)``;
    scores: ``(N,)`` float32 in [0, 1].
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, options: DetectorOptions = POSE_DETECTOR_OPTIONS
) -> Detections:
    """The detections above ``options.min_score`` from one invoke, in anchor order.

    raw_boxes: ``(N, 4 + 2K)`` (a leading batch axis of 1 is dropped): x, y, w, h then K (x, y),
    in input pixels relative to the anchor centre (x, y) or absolute (w, h); raw_scores: ``(N,)``
    or ``(N, 1)`` logits; anchors: ``(N, 4)`` from :func:`~edgepose.decode.blazepose.anchors.ssd_anchors`.
    """
    boxes = np.asarray(raw_boxes, np.float32).reshape(-1, 4 + 2 * options.num_keypoints)
    logits = np.asarray(raw_scores, np.float32).reshape(-1)
    if len(boxes) != len(anchors) or len(logits) != len(anchors):
        raise ValueError(
            f"detector outputs have {len(boxes)} boxes and {len(logits)} scores for {len(anchors)} anchors"
        )
    scores = sigmoid(np.clip(logits, -options.score_clip, options.score_clip))
    keep = np.flatnonzero(scores >= options.min_score)
    raw, a = boxes[keep], anchors[keep]
    s = np.float32(options.scale)
    cx = raw[:, 0] / s * a[:, 2] + a[:, 0]
    cy = raw[:, 1] / s * a[:, 3] + a[:, 1]
    w = raw[:, 2] / s * a[:, 2]
    h = raw[:, 3] / s * a[:, 3]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kx = raw[:, 4::2] / s * a[:, 2:3] + a[:, 0:1]
    ky = raw[:, 5::2] / s * a[:, 3:4] + a[:, 1:2]
    return Detections(xyxy.astype(np.float32), np.stack([kx, ky], axis=2).astype(np.float32), scores[keep])


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(4,)`` box with ``(N, 4)`` boxes; 0 where they do not meet."""
    ix = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    iy = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((ix > 0) & (iy > 0), ix * iy, 0.0)
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def weighted_nms(detections: Detections, iou_threshold: float, max_detections: int = 0) -> Detections:
    """MediaPipe's weighted non-maximum suppression, best first; ``max_detections`` 0: no limit.

    The best remaining detection takes every remaining one overlapping it by more than
    ``iou_threshold`` (itself included); its box and keypoints become their score-weighted mean
    and its score stays its own. Averaging many anchors' estimates of one person is steadier than
    keeping the best one. Ties in score keep anchor order (a stable sort; MediaPipe's is not).
    """
    order = np.argsort(-detections.scores, kind="stable")
    boxes, keypoints, scores = detections.boxes, detections.keypoints, detections.scores
    out_boxes, out_keypoints, out_scores = [], [], []
    while len(order):
        best = order[0]
        overlap = iou(boxes[best], boxes[order]) > iou_threshold
        members = order[overlap]
        if len(members):
            w = scores[members].astype(np.float64)
            total = w.sum()
            out_boxes.append((boxes[members] * w[:, None]).sum(axis=0) / total)
            out_keypoints.append((keypoints[members] * w[:, None, None]).sum(axis=0) / total)
        else:  # an empty box overlaps nothing, not even itself
            out_boxes.append(boxes[best])
            out_keypoints.append(keypoints[best])
        out_scores.append(scores[best])
        remaining = order[~overlap]
        if len(remaining) == len(order) or (max_detections and len(out_scores) >= max_detections):
            break
        order = remaining
    k = keypoints.shape[1] if keypoints.ndim == 3 else 0
    return Detections(
        np.array(out_boxes, np.float32).reshape(-1, 4),
        np.array(out_keypoints, np.float32).reshape(-1, k, 2),
        np.array(out_scores, np.float32),
    )


def to_source(xy: np.ndarray, region: Region) -> np.ndarray:
    """``(..., 2)`` points normalized to the detector input, in source pixels (``region``: where the input was cut)."""
    return region.to_source(np.asarray(xy, np.float32))
