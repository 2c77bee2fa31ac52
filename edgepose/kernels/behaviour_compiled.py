"""Numba kernels of the behaviours: the compiled twins of :mod:`edgepose.kernels.behaviour` (same
signatures, same results).

Import this module only through :func:`edgepose.kernels.behaviour.load_behaviour_kernels`, which
sets the cache directory before Numba is first imported. The flags are :data:`JIT_OPTIONS` without
fastmath: these values are compared against thresholds (a fall's lean, a repetition's angle, a
match's score), so the sums keep NumPy's arithmetic rather than a reassociated one.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from edgepose.kernels.flags import JIT_OPTIONS

jit = numba.jit(**{**JIT_OPTIONS, "fastmath": False})

# Keypoint indices (COCO order): the pairs whose midpoints the fall detector reads.
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = 5, 6, 11, 12
_L_KNEE, _R_KNEE, _L_ANKLE, _R_ANKLE = 13, 14, 15, 16


@jit
def _lean(bx: float, by: float, tx: float, ty: float) -> float:
    dx, dy = tx - bx, ty - by
    if dx == 0.0 and dy == 0.0:
        return np.nan
    return math.atan2(abs(dx), -dy) * (180.0 / math.pi)


@jit
def _mid(kp: np.ndarray, p: int, a: int, b: int, min_score: float) -> tuple[float, float, bool]:
    sa, sb = kp[p, a, 2] >= min_score, kp[p, b, 2] >= min_score
    if sa and sb:
        return (kp[p, a, 0] + kp[p, b, 0]) / 2.0, (kp[p, a, 1] + kp[p, b, 1]) / 2.0, True
    if sa:
        return kp[p, a, 0], kp[p, a, 1], True
    if sb:
        return kp[p, b, 0], kp[p, b, 1], True
    return 0.0, 0.0, False


@jit
def body_measures(keypoints: np.ndarray, min_score: float) -> np.ndarray:
    n = keypoints.shape[0]
    out = np.full((6, n), np.nan)
    for p in range(n):
        hx, hy, hips = _mid(keypoints, p, _L_HIP, _R_HIP, min_score)
        sx, sy, shoulders = _mid(keypoints, p, _L_SHOULDER, _R_SHOULDER, min_score)
        fx, fy, feet = _mid(keypoints, p, _L_ANKLE, _R_ANKLE, min_score)
        if not feet:
            fx, fy, feet = _mid(keypoints, p, _L_KNEE, _R_KNEE, min_score)
        if hips:
            out[0, p], out[1, p] = hx, hy
            if shoulders:
                out[2, p] = _lean(hx, hy, sx, sy)
        if feet and shoulders:
            out[3, p] = _lean(fx, fy, sx, sy)
        seen, top, bottom = 0, np.inf, -np.inf
        for k in range(keypoints.shape[1]):
            if keypoints[p, k, 2] >= min_score:
                y = keypoints[p, k, 1]
                seen += 1
                top, bottom = min(top, y), max(bottom, y)
        if seen >= 2:
            out[4, p], out[5, p] = bottom, bottom - top
    return out


@jit
def best_match(
    keypoints: np.ndarray, library_xy: np.ndarray, library_conf: np.ndarray, plain: int, weighted: bool
) -> tuple[np.ndarray, np.ndarray]:
    n, k = keypoints.shape[0], keypoints.shape[1]
    total_poses = library_xy.shape[0]
    scale = math.sqrt(k) / 2.0
    index = np.zeros(n, np.int64)
    best = np.zeros(n)
    xy = np.empty((k, 2))
    conf = np.empty(k)
    for p in range(n):
        lo_x, hi_x, lo_y, hi_y = np.inf, -np.inf, np.inf, -np.inf
        for j in range(k):
            lo_x, hi_x = min(lo_x, keypoints[p, j, 0]), max(hi_x, keypoints[p, j, 0])
            lo_y, hi_y = min(lo_y, keypoints[p, j, 1]), max(hi_y, keypoints[p, j, 1])
        cx, cy = (lo_x + hi_x) / 2.0, (lo_y + hi_y) / 2.0
        norm = 0.0
        for j in range(k):
            xy[j, 0], xy[j, 1] = keypoints[p, j, 0] - cx, keypoints[p, j, 1] - cy
            norm += xy[j, 0] * xy[j, 0] + xy[j, 1] * xy[j, 1]
            conf[j] = min(max(keypoints[p, j, 2], 0.0), 1.0)
        norm = math.sqrt(norm)
        if norm > 0.0:
            for j in range(k):
                xy[j, 0], xy[j, 1] = xy[j, 0] / norm, xy[j, 1] / norm
        for q in range(plain):
            score = 0.0
            for m in range(q, total_poses, plain):  # the pose, then its mirror image if there is one
                if weighted:
                    num, den = 0.0, 0.0
                    for j in range(k):
                        dx, dy = xy[j, 0] - library_xy[m, j, 0], xy[j, 1] - library_xy[m, j, 1]
                        num += math.sqrt(dx * dx + dy * dy) * library_conf[m, j] * conf[j]
                        den += conf[j] * library_conf[m, j]
                    s = min(max(1.0 - num / den * scale, 0.0), 1.0) if den > 0.0 else 0.0
                else:
                    dot = 0.0
                    for j in range(k):
                        dot += xy[j, 0] * library_xy[m, j, 0] + xy[j, 1] * library_xy[m, j, 1]
                    s = min(max(dot, 0.0), 1.0)
                score = max(score, s)
            if q == 0 or score > best[p]:
                best[p], index[p] = score, q
    return index, best


@jit
def rep_values(angles: np.ndarray, columns: np.ndarray, combine: np.ndarray) -> np.ndarray:
    n, rules = angles.shape[0], columns.shape[0]
    out = np.full((n, rules), np.nan)
    for p in range(n):
        for r in range(rules):
            seen, total, low, high = 0, 0.0, np.inf, -np.inf
            for c in columns[r]:
                if c < 0:
                    break
                v = angles[p, c]
                if v == v:
                    seen += 1
                    total += v
                    low, high = min(low, v), max(high, v)
            if seen:
                out[p, r] = total / seen if combine[r] == 0 else (low if combine[r] == 1 else high)
    return out


@jit
def joint_angles(keypoints: np.ndarray, min_score: float, table: np.ndarray) -> np.ndarray:
    n, k = keypoints.shape[0], keypoints.shape[1]
    angles = table.shape[0]
    out = np.full((n, angles), np.nan)
    x, y = np.empty(k + 3), np.empty(k + 3)
    seen = np.zeros(k + 3, np.bool_)
    for p in range(n):
        for j in range(k):
            x[j], y[j] = keypoints[p, j, 0], keypoints[p, j, 1]
            seen[j] = keypoints[p, j, 2] >= min_score
        x[k], y[k], seen[k] = _mid(keypoints, p, _L_SHOULDER, _R_SHOULDER, min_score)
        x[k + 1], y[k + 1], seen[k + 1] = _mid(keypoints, p, _L_HIP, _R_HIP, min_score)
        for a in range(angles):
            end, vertex, other = table[a, 0], table[a, 1], table[a, 2]
            if not (seen[end] and seen[vertex]) or (other != k + 2 and not seen[other]):
                continue
            ux, uy = x[end] - x[vertex], y[end] - y[vertex]
            if other == k + 2:  # up: a direction, not a point
                wx, wy = 0.0, -1.0
            else:
                wx, wy = x[other] - x[vertex], y[other] - y[vertex]
            cross, dot = ux * wy - uy * wx, ux * wx + uy * wy
            if cross != 0.0 or dot != 0.0:
                out[p, a] = math.atan2(abs(cross), dot) * (180.0 / math.pi)
    return out
