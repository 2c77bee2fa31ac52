"""Numba kernels: the compiled twins of :mod:`edgepose.kernels.reference` (same signatures, same results).

Import this module only through :func:`edgepose.kernels.load_kernels`, which sets the cache
directory before Numba is first imported. Every kernel is ``nopython`` with ``cache=True`` and
``nogil=True`` and the fastmath flags of :mod:`edgepose.kernels.flags`. Numba does not check
array bounds, so every coordinate is clamped (NaN to the low end) before it becomes an index.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from edgepose.kernels.flags import JIT_OPTIONS
from edgepose.kernels.reference import LOCAL_MAXIMUM_RADIUS, NUM_EDGES, NUM_KEYPOINTS, POSENET_EDGES

jit = numba.jit(**JIT_OPTIONS)
_EDGES = POSENET_EDGES.copy()  # a global array Numba freezes into the compiled code


@jit
def _clamp(v: float, lo: float, hi: float) -> float:
    if not v >= lo:
        return lo
    return hi if v > hi else v


@jit
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@jit
def _bilinear(t: np.ndarray, y: float, x: float, c: int) -> float:
    h, w = t.shape[0], t.shape[1]
    y = _clamp(y, 0.0, h - 1.0)
    x = _clamp(x, 0.0, w - 1.0)
    y0, x0 = int(y), int(x)  # y, x >= 0 after the clamp, so truncation is floor
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    top = (1.0 - lx) * np.float64(t[y0, x0, c]) + lx * np.float64(t[y0, x1, c])
    bottom = (1.0 - lx) * np.float64(t[y1, x0, c]) + lx * np.float64(t[y1, x1, c])
    return (1.0 - ly) * top + ly * bottom


@jit
def posenet_candidates(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    h, w, k = scores.shape
    values = np.empty(h * w * k, np.float64)
    ys = np.empty(h * w * k, np.int64)
    xs = np.empty(h * w * k, np.int64)
    ks = np.empty(h * w * k, np.int64)
    n = 0
    r = LOCAL_MAXIMUM_RADIUS
    for y in range(h):
        for x in range(w):
            for j in range(k):
                s = scores[y, x, j]
                if not s >= threshold:
                    continue
                is_max = True
                for yy in range(max(y - r, 0), min(y + r + 1, h)):
                    for xx in range(max(x - r, 0), min(x + r + 1, w)):
                        if scores[yy, xx, j] > s:
                            is_max = False
                            break
                    if not is_max:
                        break
                if is_max:
                    values[n], ys[n], xs[n], ks[n] = s, y, x, j
                    n += 1
    order = np.argsort(-values[:n], kind="mergesort")  # stable: ties keep raster order
    return values[:n][order], ys[:n][order], xs[:n][order], ks[:n][order]


@jit
def _displaced(
    shorts: np.ndarray, mids: np.ndarray, y: float, x: float, dy_channel: int, target: int, steps: int
) -> tuple[float, float]:
    h, w = shorts.shape[0], shorts.shape[1]
    y2 = _clamp(y + _bilinear(mids, y, x, dy_channel), 0.0, h - 1.0)
    x2 = _clamp(x + _bilinear(mids, y, x, dy_channel + NUM_EDGES), 0.0, w - 1.0)
    for _ in range(steps):
        oy = _bilinear(shorts, y2, x2, target)
        ox = _bilinear(shorts, y2, x2, NUM_KEYPOINTS + target)
        y2 = _clamp(y2 + oy, 0.0, h - 1.0)
        x2 = _clamp(x2 + ox, 0.0, w - 1.0)
    return y2, x2


@jit
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
    if logits:
        threshold = -math.log(1.0 / (score_threshold + 1e-6) - 1.0)
    else:
        threshold = score_threshold
    h, w = scores.shape[0], scores.shape[1]
    cand_s, cand_y, cand_x, cand_k = posenet_candidates(scores, threshold)
    r2 = nms_radius * nms_radius
    coords = np.zeros((max_poses, NUM_KEYPOINTS, 2), np.float32)
    kp_scores = np.zeros((max_poses, NUM_KEYPOINTS), np.float32)
    first_scores = np.zeros(max_poses, np.float64)
    pose = np.zeros((NUM_KEYPOINTS, 2), np.float64)
    raw = np.zeros(NUM_KEYPOINTS, np.float64)
    done = np.zeros(NUM_KEYPOINTS, np.bool_)
    stack = np.zeros(NUM_KEYPOINTS, np.int64)
    count = 0
    for i in range(cand_s.shape[0]):
        if count >= max_poses:
            break
        y, x, k = cand_y[i], cand_x[i], cand_k[i]
        ry = _clamp(y + np.float64(shorts[y, x, k]), 0.0, h - 1.0)
        rx = _clamp(x + np.float64(shorts[y, x, NUM_KEYPOINTS + k]), 0.0, w - 1.0)
        suppressed = False
        for p in range(count):
            if (ry - coords[p, k, 0]) ** 2 + (rx - coords[p, k, 1]) ** 2 <= r2:
                suppressed = True
                break
        if suppressed:
            continue
        pose[:] = 0.0
        raw[:] = 0.0
        done[:] = False
        pose[k, 0], pose[k, 1] = ry, rx
        raw[k] = _bilinear(scores, ry, rx, k)
        done[k] = True
        stack[0] = k
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            for e in range(NUM_EDGES):
                parent, child = _EDGES[e, 0], _EDGES[e, 1]
                if parent == node and not done[child]:
                    target, channel = child, e
                elif child == node and not done[parent]:
                    target, channel = parent, 2 * NUM_EDGES + e
                else:
                    continue
                ty, tx = _displaced(shorts, mids, pose[node, 0], pose[node, 1], channel, target, refine_steps)
                pose[target, 0], pose[target, 1] = ty, tx
                raw[target] = _bilinear(scores, ty, tx, target)
                done[target] = True
                stack[top] = target
                top += 1
        total = 0.0
        for j in range(NUM_KEYPOINTS):
            if logits:
                raw[j] = _sigmoid(raw[j])
            else:
                raw[j] = min(max(raw[j], 0.0), 1.0)
            total += raw[j]
        score = total / NUM_KEYPOINTS
        if score >= score_threshold:
            for j in range(NUM_KEYPOINTS):
                coords[count, j, 0], coords[count, j, 1] = pose[j, 0], pose[j, 1]
                kp_scores[count, j] = raw[j]
            first_scores[count] = score
            count += 1
    return _rescore(coords[:count], kp_scores[:count], first_scores[:count], r2, score_threshold)


@jit
def _rescore(
    coords: np.ndarray, kp_scores: np.ndarray, first_scores: np.ndarray, r2: float, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = first_scores.shape[0]
    order = np.argsort(-first_scores, kind="mergesort")
    final = np.zeros(n, np.float64)
    for i in range(n):
        current = order[i]
        total = 0.0
        for j in range(NUM_KEYPOINTS):
            claimed = False
            for q in range(i):
                prev = order[q]
                dy = coords[prev, j, 0] - coords[current, j, 0]
                dx = coords[prev, j, 1] - coords[current, j, 1]
                if dy * dy + dx * dx <= r2:
                    claimed = True
                    break
            if not claimed:
                total += np.float64(kp_scores[current, j])
        final[current] = total / NUM_KEYPOINTS
    order = np.argsort(-final, kind="mergesort")
    m = 0
    for i in range(n):
        if final[order[i]] >= score_threshold:
            m += 1
        else:
            break
    keep = order[:m]
    out_scores = np.empty(m, np.float32)
    for i in range(m):
        out_scores[i] = final[keep[i]]
    return coords[keep], kp_scores[keep], out_scores


@jit
def posenet_single(scores: np.ndarray, shorts: np.ndarray, stride: float, logits: bool) -> np.ndarray:
    k = scores.shape[2]
    peaks = heatmap_argmax(scores)  # the best cell per keypoint: the same search as heatmap models
    out = np.empty((k, 3), np.float32)
    for j in range(k):
        bx, by = int(peaks[j, 0]), int(peaks[j, 1])
        out[j, 0] = bx * stride + shorts[by, bx, k + j]
        out[j, 1] = by * stride + shorts[by, bx, j]
        best = np.float64(peaks[j, 2])
        out[j, 2] = _sigmoid(best) if logits else min(max(best, 0.0), 1.0)
    return out


@jit
def heatmap_argmax(heatmaps: np.ndarray) -> np.ndarray:
    h, w, k = heatmaps.shape
    out = np.empty((k, 3), np.float32)
    for j in range(k):
        best, by, bx = heatmaps[0, 0, j], 0, 0
        for y in range(h):
            for x in range(w):
                if heatmaps[y, x, j] > best:
                    best, by, bx = heatmaps[y, x, j], y, x
        out[j, 0], out[j, 1], out[j, 2] = bx, by, best
    return out


@jit
def heatmap_quarter(heatmaps: np.ndarray) -> np.ndarray:
    h, w, _ = heatmaps.shape
    out = heatmap_argmax(heatmaps)
    for j in range(out.shape[0]):
        x, y = int(out[j, 0]), int(out[j, 1])
        if 0 < x < w - 1:
            out[j, 0] += 0.25 * np.sign(np.float64(heatmaps[y, x + 1, j]) - np.float64(heatmaps[y, x - 1, j]))
        if 0 < y < h - 1:
            out[j, 1] += 0.25 * np.sign(np.float64(heatmaps[y + 1, x, j]) - np.float64(heatmaps[y - 1, x, j]))
    return out


@jit
def _blur_log(heatmaps: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Log of the separable Gaussian blur (zero outside), each channel rescaled to its original peak."""
    h, w, k = heatmaps.shape
    r = g.shape[0] // 2
    rows = np.zeros((h, w, k), np.float64)
    out = np.zeros((h, w, k), np.float64)
    for y in range(h):
        for x in range(w):
            for t in range(-r, r + 1):
                xx = x + t
                if 0 <= xx < w:
                    for j in range(k):
                        rows[y, x, j] += g[t + r] * heatmaps[y, xx, j]
    for y in range(h):
        for x in range(w):
            for t in range(-r, r + 1):
                yy = y + t
                if 0 <= yy < h:
                    for j in range(k):
                        out[y, x, j] += g[t + r] * rows[yy, x, j]
    for j in range(k):
        peak_in, peak_out = -np.inf, -np.inf
        for y in range(h):
            for x in range(w):
                peak_in = max(peak_in, np.float64(heatmaps[y, x, j]))
                peak_out = max(peak_out, out[y, x, j])
        scale = peak_in / peak_out if peak_out > 0.0 else 1.0
        for y in range(h):
            for x in range(w):
                out[y, x, j] = math.log(max(out[y, x, j] * scale, 1e-10))
    return out


@jit
def heatmap_dark(heatmaps: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``g`` is the 1-D Gaussian of :func:`edgepose.kernels.reference.gaussian_kernel`."""
    h, w, _ = heatmaps.shape
    out = heatmap_argmax(heatmaps)
    m = _blur_log(heatmaps, g)
    for j in range(out.shape[0]):
        x, y = int(out[j, 0]), int(out[j, 1])
        if not (0 < x < w - 1 and 0 < y < h - 1):
            continue
        dx = 0.5 * (m[y, x + 1, j] - m[y, x - 1, j])
        dy = 0.5 * (m[y + 1, x, j] - m[y - 1, x, j])
        dxx = m[y, x + 1, j] - 2.0 * m[y, x, j] + m[y, x - 1, j]
        dyy = m[y + 1, x, j] - 2.0 * m[y, x, j] + m[y - 1, x, j]
        dxy = 0.25 * (m[y + 1, x + 1, j] - m[y + 1, x - 1, j] - m[y - 1, x + 1, j] + m[y - 1, x - 1, j])
        det = dxx * dyy - dxy * dxy
        if not (dxx < 0.0 and det > 0.0):
            continue
        ox = -(dyy * dx - dxy * dy) / det
        oy = -(dxx * dy - dxy * dx) / det
        if abs(ox) <= 1.0 and abs(oy) <= 1.0:
            out[j, 0] += ox
            out[j, 1] += oy
    return out


@jit
def movenet_multi(raw: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = raw.shape[0]
    scores = np.empty(n, np.float32)
    for i in range(n):
        scores[i] = raw[i, 55]
    order = np.argsort(-scores, kind="mergesort")
    m = 0
    for i in range(n):
        if scores[order[i]] >= min_score:
            m += 1
    keypoints = np.empty((m, 17, 3), np.float32)
    boxes = np.empty((m, 4), np.float32)
    out_scores = np.empty(m, np.float32)
    p = 0
    for i in range(n):
        row = order[i]
        if not scores[row] >= min_score:
            continue
        for j in range(17):
            keypoints[p, j, 0] = raw[row, 3 * j + 1]
            keypoints[p, j, 1] = raw[row, 3 * j]
            keypoints[p, j, 2] = min(max(np.float64(raw[row, 3 * j + 2]), 0.0), 1.0)
        boxes[p, 0], boxes[p, 1], boxes[p, 2], boxes[p, 3] = raw[row, 52], raw[row, 51], raw[row, 54], raw[row, 53]
        out_scores[p] = scores[row]
        p += 1
    return keypoints, boxes, out_scores
