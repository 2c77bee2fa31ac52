"""Point in polygon against a slow exact reference, and the simple-polygon check the config uses."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edgepose.analysis.polygon import points_in_polygon, simple_polygon_problem

GRID = 16  # coordinates are multiples of 1/16: exact in binary, so both sides compute exactly


def reference_inside(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    """Winding number in exact rationals, boundary inside: another algorithm than the one tested."""
    px, py = (Fraction(v) for v in point)
    q = [(Fraction(x), Fraction(y)) for x, y in polygon]
    winding = 0
    for (x0, y0), (x1, y1) in zip(q, q[1:] + q[:1], strict=True):
        cross = (x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)
        if cross == 0 and min(x0, x1) <= px <= max(x0, x1) and min(y0, y1) <= py <= max(y0, y1):
            return True  # on this edge
        if y0 <= py < y1 and cross > 0:
            winding += 1
        elif y1 <= py < y0 and cross < 0:
            winding -= 1
    return winding != 0


@st.composite
def star_polygons(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Simple polygons, often concave: corners at sorted angles and random radii around a centre."""
    n = draw(st.integers(3, 9))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    poly = [
        (round(8 + r * math.cos(a)) / GRID, round(8 + r * math.sin(a)) / GRID)
        for a, r in zip(angles, radii, strict=True)
    ]
    assume(simple_polygon_problem(np.array(poly)) is None)
    return poly


grid_points = st.tuples(st.integers(-1, 17), st.integers(-1, 17)).map(lambda p: (p[0] / GRID, p[1] / GRID))


@settings(max_examples=300, deadline=None)
@given(star_polygons(), st.lists(grid_points, min_size=1, max_size=40))
def test_agrees_with_the_exact_reference(polygon, points) -> None:
    # The corners and edge midpoints too: the boundary is where a fast test usually slips.
    q = np.array(polygon)
    special = [*polygon, *((q + np.roll(q, -1, axis=0)) / 2).tolist()]
    everything = [*points, *map(tuple, special)]
    got = points_in_polygon(np.array(everything), q)
    want = [reference_inside(p, polygon) for p in everything]
    assert got.tolist() == want
    assert got[len(points) :].all()  # every corner and midpoint is on the boundary: inside


U_SHAPE = np.array([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)], float) / 4


# (point, inside?) for the U above (x right, y down): the notch is outside, its edges inside
U_CASES = [
    ((0.5 / 4, 2 / 4), True),  # left arm
    ((2.5 / 4, 2 / 4), True),  # right arm
    ((1.5 / 4, 2 / 4), False),  # the notch between them
    ((1.5 / 4, 1 / 4), True),  # on the notch's floor edge
    ((1 / 4, 2 / 4), True),  # on the notch's left wall
    ((1.5 / 4, 0.5 / 4), True),  # the base below the notch
    ((3 / 4, 3 / 4), True),  # a corner
    ((3.01 / 4, 1 / 4), False),  # just outside the right side
    ((1.5 / 4, 3 / 4), False),  # the notch's open end, on the line through two corners but not an edge
]


@pytest.mark.parametrize(("point", "inside"), U_CASES)
def test_concave_shape(point, inside: bool) -> None:
    assert points_in_polygon(np.array([point]), U_SHAPE)[0] == inside
    assert reference_inside(point, [tuple(p) for p in U_SHAPE]) == inside  # the reference agrees


def test_nan_points_are_outside_and_shapes() -> None:
    square = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], float)
    got = points_in_polygon(np.array([(np.nan, 0.5), (0.5, np.nan), (0.5, 0.5)]), square)
    assert got.tolist() == [False, False, True]
    assert points_in_polygon(np.zeros((0, 2)), square).shape == (0,)


# (polygon, words of the problem or None when simple)
SIMPLE_CASES = [
    ([(0, 0), (1, 0), (0, 1)], None),  # triangle
    ([(0, 0), (1, 0), (1, 1), (0, 1)], None),  # square, either direction
    ([(0, 1), (1, 1), (1, 0), (0, 0)], None),
    (U_SHAPE.tolist(), None),  # concave
    ([(0, 0), (1, 0)], "at least 3"),
    ([(0, 0), (1, 1), (1, 0), (0, 1)], "cross"),  # bow tie
    ([(0, 0), (1, 0), (1, 1), (1, 0), (0, 1)], "same"),  # a corner twice
    ([(0, 0), (0.5, 0), (1, 0)], "overlap"),  # all on one line: the last edge runs back over the others
    ([(0, 0), (1, 0), (0.5, 0), (0.5, 1)], "overlap"),  # folds back along its own edge
    ([(0, 0), (2, 0), (2, 2), (1, 0), (0, 2)], "cross"),  # a corner touching another edge
    ([(0, 0), (4, 0), (4, 4), (3, 4), (3, 1), (1, 1), (1, 4), (0, 4), (0, 2), (4, 2)], "cross"),  # an edge across
]


@pytest.mark.parametrize(("polygon", "problem"), SIMPLE_CASES)
def test_simple_polygon_check(polygon, problem: str | None) -> None:
    found = simple_polygon_problem(np.array(polygon, float))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@settings(max_examples=100, deadline=None)
@given(st.lists(star_polygons(), min_size=1, max_size=5), st.lists(grid_points, min_size=0, max_size=30))
def test_polygon_set_is_each_polygon_alone(polygons, points) -> None:
    """The stage tests every zone at once: the same answers as one polygon at a time."""
    from edgepose.analysis.polygon import PolygonSet

    q = [np.array(p) for p in polygons]
    pts = np.array([*points, (np.nan, 0.5)]).reshape(-1, 2)
    got = PolygonSet(tuple(q)).contains(pts)
    assert got.shape == (len(pts), len(q))
    for z, polygon in enumerate(q):
        assert got[:, z].tolist() == points_in_polygon(pts, polygon).tolist()
