"""Plain NumPy twins of the Numba kernels in :mod:`edgepose.kernels.compiled`.

Each function here has the same signature and the same results as its compiled twin, written to
be read rather than to be fast: vectorized NumPy where that is natural, plain loops where the
algorithm is a walk. Tests assert the twins agree; the NumPy path also runs where Numba has no
wheels (some 32-bit Raspberry Pi OS images).

Shapes and frames are documented once here; the compiled twins follow them exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# PoseNet's 16-edge keypoint tree (parent, child), COCO ids; the order fixes the mid-offset channels:
# forward edge e (parent to child) is channels (e, 16 + e) = (dy, dx); backward edge e (child to
# parent) is channels (32 + e, 48 + e). This is Coral's layout, and TensorFlow's fwd/bwd tensors
# concatenated.
POSENET_EDGES = np.array(
    [
        (0, 1),
        (1, 3),
        (0, 2),
        (2, 4),
        (0, 5),
        (5, 7),
        (7, 9),
        (5, 11),
        (11, 13),
        (13, 15),
        (0, 6),
        (6, 8),
        (8, 10),
        (6, 12),
        (12, 14),
        (14, 16),
    ],
    dtype=np.int64,
)
NUM_EDGES = 16
NUM_KEYPOINTS = 17
LOCAL_MAXIMUM_RADIUS = 1


def clamp(v: float, lo: float, hi: float) -> float:
    """``v`` limited to [lo, hi]; NaN becomes ``lo`` so it can never reach an array index."""
    if not v >= lo:
        return lo
    return hi if v > hi else v


def sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def bilinear(t: np.ndarray, y: float, x: float, c: int) -> float:
    """``t[y, x, c]`` of an ``(H, W, C)`` grid, bilinear at a point already clamped into the grid."""
    h, w = t.shape[0], t.shape[1]
    y, x = clamp(y, 0.0, h - 1.0), clamp(x, 0.0, w - 1.0)
    y0, x0 = int(y), int(x)  # y, x >= 0 after the clamp, so truncation is floor
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    top = (1.0 - lx) * float(t[y0, x0, c]) + lx * float(t[y0, x1, c])
    bottom = (1.0 - lx) * float(t[y1, x0, c]) + lx * float(t[y1, x1, c])
    return (1.0 - ly) * top + ly * bottom


def posenet_candidates(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Root candidates: cells at or above ``threshold`` that no neighbour (radius 1) exceeds.

    ``scores`` is ``(H, W, 17)``. Returns (score, y, x, keypoint) arrays, highest score first; equal
    scores keep raster order (y, x, keypoint), so both twins visit candidates identically.
    """
    h, w, k = scores.shape
    padded = np.full((h + 2, w + 2, k), -np.inf, dtype=np.float64)
    padded[1:-1, 1:-1] = scores
    # fmax ignores a NaN neighbour, as the compiled loop's `neighbour > score` test does.
    neighbourhood = functools.reduce(np.fmax, [padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])
    ys, xs, ks = np.nonzero((scores >= threshold) & (scores >= neighbourhood))
    values = scores[ys, xs, ks].astype(np.float64)
    order = np.argsort(-values, kind="stable")
    return values[order], ys[order], xs[order], ks[order]


def displaced(
    shorts: np.ndarray, mids: np.ndarray, y: float, x: float, dy_channel: int, target: int, steps: int
) -> tuple[float, float]:
    """Follow one mid-range displacement from (y, x), then refine with ``steps`` short offsets."""
    h, w = shorts.shape[0], shorts.shape[1]
    y2 = clamp(y + bilinear(mids, y, x, dy_channel), 0.0, h - 1.0)
    x2 = clamp(x + bilinear(mids, y, x, dy_channel + NUM_EDGES), 0.0, w - 1.0)
    for _ in range(steps):
        oy = bilinear(shorts, y2, x2, target)
        ox = bilinear(shorts, y2, x2, NUM_KEYPOINTS + target)
        y2 = clamp(y2 + oy, 0.0, h - 1.0)
        x2 = clamp(x2 + ox, 0.0, w - 1.0)
    return y2, x2


def posenet_decode(
    scores: np.ndarray,
    shorts: np.ndarray,
    mids: np.ndarray,
    max_poses: int,
    score_threshold: float,
    nms_radius: float,
    refine_steps: int,
    logits: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multi-person PoseNet (PersonLab) decoding, as Coral's ``PosenetDecoderOp`` does it.

    Grids are float32 ``(H, W, C)``; ``scores`` has 17 channels (logits when ``logits``), ``shorts``
    34 (dy of the 17 keypoints, then dx) and ``mids`` 64 (see :data:`POSENET_EDGES`), both offsets
    in grid cells (pixels / stride). ``nms_radius`` is in grid cells too.

    Returns ``coords (P, 17, 2)`` of (y, x) in grid cells, ``keypoint_scores (P, 17)`` and
    ``pose_scores (P,)`` in [0, 1], highest pose first, P <= ``max_poses``.
    """
    threshold = -math.log(1.0 / (score_threshold + 1e-6) - 1.0) if logits else score_threshold
    h, w = scores.shape[0], scores.shape[1]
    cand_s, cand_y, cand_x, cand_k = posenet_candidates(scores, threshold)
    r2 = nms_radius * nms_radius
    coords = np.zeros((max_poses, NUM_KEYPOINTS, 2), np.float32)
    kp_scores = np.zeros((max_poses, NUM_KEYPOINTS), np.float32)
    first_scores = np.zeros(max_poses, np.float64)
    count = 0
    for i in range(len(cand_s)):
        if count >= max_poses:
            break
        y, x, k = int(cand_y[i]), int(cand_x[i]), int(cand_k[i])
        ry = clamp(y + float(shorts[y, x, k]), 0.0, h - 1.0)
        rx = clamp(x + float(shorts[y, x, NUM_KEYPOINTS + k]), 0.0, w - 1.0)
        if any((ry - coords[p, k, 0]) ** 2 + (rx - coords[p, k, 1]) ** 2 <= r2 for p in range(count)):
            continue
        pose = np.zeros((NUM_KEYPOINTS, 2), np.float64)
        raw = np.zeros(NUM_KEYPOINTS, np.float64)
        done = np.zeros(NUM_KEYPOINTS, bool)
        pose[k] = (ry, rx)
        raw[k] = bilinear(scores, ry, rx, k)
        done[k] = True
        stack = [k]
        while stack:  # a tree: each keypoint is reached by one path, whatever the visiting order
            node = stack.pop()
            for e in range(NUM_EDGES):
                parent, child = int(POSENET_EDGES[e, 0]), int(POSENET_EDGES[e, 1])
                if parent == node and not done[child]:
                    target, channel = child, e  # forward edge
                elif child == node and not done[parent]:
                    target, channel = parent, 2 * NUM_EDGES + e  # backward edge
                else:
                    continue
                ty, tx = displaced(shorts, mids, pose[node, 0], pose[node, 1], channel, target, refine_steps)
                pose[target] = (ty, tx)
                raw[target] = bilinear(scores, ty, tx, target)
                done[target] = True
                stack.append(target)
        probs = np.array([sigmoid(v) for v in raw]) if logits else np.clip(raw, 0.0, 1.0)
        score = float(probs.sum()) / NUM_KEYPOINTS
        if score >= score_threshold:
            coords[count] = pose
            kp_scores[count] = probs
            first_scores[count] = score
            count += 1
    return _rescore(coords[:count], kp_scores[:count], first_scores[:count], r2, score_threshold)


def _rescore(
    coords: np.ndarray, kp_scores: np.ndarray, first_scores: np.ndarray, r2: float, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft keypoint NMS: a keypoint near the same keypoint of a better pose adds nothing to the score."""
    order = np.argsort(-first_scores, kind="stable")
    final = np.zeros(len(order), np.float64)
    for i, current in enumerate(order):
        earlier = coords[order[:i]]  # (i, 17, 2)
        d2 = ((earlier - coords[current][None]) ** 2).sum(axis=2)
        claimed = (d2 <= r2).any(axis=0) if i else np.zeros(NUM_KEYPOINTS, bool)
        final[current] = float(kp_scores[current][~claimed].astype(np.float64).sum()) / NUM_KEYPOINTS
    order = np.argsort(-final, kind="stable")
    order = order[final[order] >= score_threshold]
    return coords[order], kp_scores[order], final[order].astype(np.float32)


def posenet_single(scores: np.ndarray, shorts: np.ndarray, stride: float, logits: bool) -> np.ndarray:
    """Single-person PoseNet: per keypoint the best cell plus its short offset.

    ``scores`` ``(H, W, 17)``, ``shorts`` ``(H, W, 34)`` in input pixels. Returns ``(17, 3)`` of
    (x, y, score), x and y in input pixels (cell * stride + offset).
    """
    k = scores.shape[2]
    peaks = heatmap_argmax(scores)  # the best cell per keypoint: the same search as heatmap models
    xs, ys = peaks[:, 0].astype(np.intp), peaks[:, 1].astype(np.intp)
    out = np.empty((k, 3), np.float32)
    idx = np.arange(k)
    out[:, 0] = xs * stride + shorts[ys, xs, k + idx]
    out[:, 1] = ys * stride + shorts[ys, xs, idx]
    raw = peaks[:, 2].astype(np.float64)
    out[:, 2] = 1.0 / (1.0 + np.exp(-raw)) if logits else np.clip(raw, 0.0, 1.0)
    return out


def heatmap_argmax(heatmaps: np.ndarray) -> np.ndarray:
    """``(H, W, K)`` heatmaps to ``(K, 3)`` of (x, y, value) at each channel's first maximum, in cells."""
    h, w, k = heatmaps.shape
    best = np.argmax(heatmaps.reshape(h * w, k), axis=0)
    out = np.empty((k, 3), np.float32)
    out[:, 0] = best % w
    out[:, 1] = best // w
    out[:, 2] = heatmaps.reshape(h * w, k)[best, np.arange(k)]
    return out


def heatmap_quarter(heatmaps: np.ndarray) -> np.ndarray:
    """Argmax moved a quarter cell toward the higher neighbour on each axis (Simple Baselines)."""
    h, w, _ = heatmaps.shape
    out = heatmap_argmax(heatmaps)
    for j in range(out.shape[0]):
        x, y = int(out[j, 0]), int(out[j, 1])
        if 0 < x < w - 1:
            out[j, 0] += 0.25 * np.sign(float(heatmaps[y, x + 1, j]) - float(heatmaps[y, x - 1, j]))
        if 0 < y < h - 1:
            out[j, 1] += 0.25 * np.sign(float(heatmaps[y + 1, x, j]) - float(heatmaps[y - 1, x, j]))
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalized 1-D Gaussian, radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3.0 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def blur(heatmaps: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable blur by the 1-D kernel ``g`` of each channel, zero outside the grid, rescaled to keep each maximum."""
    r = len(g) // 2
    h, w, k = heatmaps.shape
    src = heatmaps.astype(np.float64)
    padded = np.zeros((h + 2 * r, w + 2 * r, k))
    padded[r : r + h, r : r + w] = src
    rows = sum(g[i] * padded[:, i : i + w] for i in range(len(g)))
    out = sum(g[i] * rows[i : i + h] for i in range(len(g)))
    peak_in, peak_out = src.max(axis=(0, 1)), out.max(axis=(0, 1))
    scale = np.where(peak_out > 0, peak_in / np.where(peak_out > 0, peak_out, 1.0), 1.0)
    return out * scale


def heatmap_dark(heatmaps: np.ndarray, g: np.ndarray) -> np.ndarray:
    """DARK (Zhang et al. 2020): a Newton step on the log of the blurred heatmap at the argmax.

    The log of a Gaussian is a quadratic, so one step from the argmax lands on the true centre;
    blurring first makes a real heatmap closer to a Gaussian. The step is taken only where the
    Hessian is that of a maximum and the step stays within one cell. ``g`` is the blur's 1-D
    Gaussian (:func:`gaussian_kernel`).
    """
    h, w, _ = heatmaps.shape
    out = heatmap_argmax(heatmaps)
    logs = np.log(np.maximum(blur(heatmaps, g), 1e-10))
    for j in range(out.shape[0]):
        x, y = int(out[j, 0]), int(out[j, 1])
        if not (0 < x < w - 1 and 0 < y < h - 1):
            continue
        m = logs[:, :, j]
        dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        dxx = m[y, x + 1] - 2.0 * m[y, x] + m[y, x - 1]
        dyy = m[y + 1, x] - 2.0 * m[y, x] + m[y - 1, x]
        dxy = 0.25 * (m[y + 1, x + 1] - m[y + 1, x - 1] - m[y - 1, x + 1] + m[y - 1, x - 1])
        det = dxx * dyy - dxy * dxy
        if not (dxx < 0.0 and det > 0.0):
            continue
        ox = -(dyy * dx - dxy * dy) / det
        oy = -(dxx * dy - dxy * dx) / det
        if abs(ox) <= 1.0 and abs(oy) <= 1.0:
            out[j, 0] += ox
            out[j, 1] += oy
    return out


def movenet_multi(raw: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MoveNet MultiPose ``(N, 56)`` rows to poses scoring at least ``min_score``, best first.

    A row is 17 x (y, x, score) then (ymin, xmin, ymax, xmax, score), normalized to the input.
    Returns ``keypoints (P, 17, 3)`` of (x, y, score), ``boxes (P, 4)`` of (x0, y0, x1, y1) and
    ``scores (P,)``; a NaN score never passes.
    """
    scores = raw[:, 55].astype(np.float32)
    keep = np.nonzero(scores >= min_score)[0]
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    rows = raw[keep]
    kps = rows[:, :51].reshape(-1, 17, 3)
    keypoints = np.stack([kps[:, :, 1], kps[:, :, 0], np.clip(kps[:, :, 2], 0.0, 1.0)], axis=2).astype(np.float32)
    boxes = rows[:, [52, 51, 54, 53]].astype(np.float32)
    return keypoints, boxes, scores[keep]
