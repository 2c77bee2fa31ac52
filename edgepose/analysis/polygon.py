"""Points in polygons, and whether a polygon is simple (its edges meet only at shared corners).

Both use only products and differences of coordinates (no division), so on coordinates that are
exact binary fractions (a grid of 1/16ths, say) the answers are exact, and a point on an edge or
a corner is decided the same way every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: whether each of ``(N, 2)`` points lies inside ``(V, 2)`` polygon or on its boundary.

    Even-odd crossing rule on a ray towards +x, so concave polygons work; a point on an edge or a
    corner counts as inside (someone standing on the line of a doorway is in the doorway). NaN
    points are outside. Vectorized over points and edges: ``(N, V)`` work, fine for a few people
    and a few dozen corners.
    """
    p = np.asarray(points, np.float64).reshape(-1, 2)
    q = np.asarray(polygon, np.float64)
    px, py = p[:, :1], p[:, 1:]  # (N, 1)
    xi, yi = q[:, 0], q[:, 1]  # (V,) edge starts
    xj, yj = np.roll(xi, -1), np.roll(yi, -1)  # edge ends
    # cross > 0: the point is left of the edge i -> j (y down makes that "right" on screen; only signs matter)
    cross = (xj - xi) * (py - yi) - (px - xi) * (yj - yi)  # (N, V)
    straddles = (yi > py) != (yj > py)  # the edge crosses the ray's line, half-open so corners count once
    # The crossing lies right of the point exactly when the cross product's sign matches the edge's direction.
    crossings = straddles & ((cross > 0) == (yj > yi))
    on_edge = (
        (cross == 0)
        & (np.minimum(xi, xj) <= px)
        & (px <= np.maximum(xi, xj))
        & (np.minimum(yi, yj) <= py)
        & (py <= np.maximum(yi, yj))
    )
    inside = (crossings.sum(axis=1) % 2 == 1) | on_edge.any(axis=1)
    return inside & np.isfinite(p).all(axis=1)  # NaN compares false, which would count as a crossing


@dataclass(frozen=True)
class PolygonSet:
    """Several polygons tested at once: every point against every edge of all of them in one pass.

    The same rule as :func:`points_in_polygon` (edges inside, NaN outside), with the edges laid out
    once at construction instead of on every call; a frame's zones cost one set of array operations
    whatever their number.
    """

    polygons: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        q = [np.asarray(p, np.float64) for p in self.polygons]
        starts = np.cumsum([0] + [len(p) for p in q[:-1]]) if q else np.zeros(0, np.intp)
        first = np.concatenate(q) if q else np.zeros((0, 2))
        second = np.concatenate([np.roll(p, -1, axis=0) for p in q]) if q else np.zeros((0, 2))
        xi, yi, xj, yj = first[:, 0], first[:, 1], second[:, 0], second[:, 1]
        object.__setattr__(
            self,
            "_edges",
            (
                xi,
                yi,
                yj,
                xj - xi,
                yj - yi,
                yj > yi,
                np.minimum(xi, xj),
                np.maximum(xi, xj),
                np.minimum(yi, yj),
                np.maximum(yi, yj),
            ),
        )
        object.__setattr__(self, "_starts", np.asarray(starts, np.intp))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """``(N, Z)`` bool: whether each of ``(N, 2)`` points is in (or on) each of the Z polygons."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        if not self.polygons or not len(p):
            return np.zeros((len(p), len(self.polygons)), bool)
        xi, yi, yj, dx, dy, upward, x0, x1, y0, y1 = self._edges  # type: ignore[attr-defined]
        px, py = p[:, :1], p[:, 1:]
        cross = dx * (py - yi) - (px - xi) * dy  # (N, E)
        crossings = ((yi > py) != (yj > py)) & ((cross > 0) == upward)
        inside = np.add.reduceat(crossings, self._starts, axis=1) % 2 == 1  # type: ignore[attr-defined]
        zero = cross == 0
        if zero.any():  # on an edge's line: rare on real anchors, so the box test runs only then
            on_edge = zero & (x0 <= px) & (px <= x1) & (y0 <= py) & (py <= y1)
            inside |= np.logical_or.reduceat(on_edge, self._starts, axis=1)  # type: ignore[attr-defined]
        return inside & np.isfinite(p).all(axis=1, keepdims=True)


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    return float(np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])))


def _on_segment(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """Whether ``c`` (collinear with a-b) lies within the segment a-b."""
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def segments_meet(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
    """Whether the closed segments a-b and c-d share at least one point."""
    o1, o2, o3, o4 = _orientation(a, b, c), _orientation(a, b, d), _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def simple_polygon_problem(polygon: np.ndarray) -> str | None:
    """Why ``(V, 2)`` ``polygon`` is not a simple polygon, or None when it is.

    Simple: at least 3 corners, no corner repeated, a non-zero area, and no two edges meeting
    except neighbours at their shared corner. A check for the config (``O(V^2)``), not per frame.
    """
    q = np.asarray(polygon, np.float64)
    n = len(q)
    if n < 3:
        return f"has {n} point(s); a polygon needs at least 3"
    for i in range(n):
        for j in range(i + 1, n):
            if (q[i] == q[j]).all():
                return f"points {i} and {j} are the same"
    edges = [(q[i], q[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 1, n):
            c, d = edges[j]
            if j == i + 1 or (i == 0 and j == n - 1):  # neighbours share one corner: they must not fold back
                shared, other_i, other_j = (b, a, d) if j == i + 1 else (a, b, c)
                folds = _on_segment(shared, other_i, other_j) or _on_segment(shared, other_j, other_i)
                if _orientation(other_i, shared, other_j) == 0 and folds:
                    return f"edges {i} and {j} overlap"
                continue
            if segments_meet(a, b, c, d):
                return f"edges {i} and {j} cross (edge k joins point k to the next)"
    x, y = q[:, 0], q[:, 1]
    if np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y) == 0:
        return "has no area (its points are on one line)"
    return None
