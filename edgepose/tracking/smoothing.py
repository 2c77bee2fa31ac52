"""One Euro filter (Casiez et al., CHI 2012) for keypoint coordinates.

A low-pass filter whose cutoff rises with speed: jitter is removed while a person stands still,
and lag stays small when they move. Coordinates are **normalized to the frame** (x / width,
y / height) so the defaults (min cutoff 2.5 Hz, beta 300, derivative cutoff 2.5 Hz) do not depend
on the camera's resolution; time is in **seconds** (capture timestamps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 2.5  # Hz
    beta: float = 300.0  # cutoff increase per unit of speed (normalized units per second)
    d_cutoff: float = 2.5  # Hz, for the speed estimate


DEFAULT_PARAMS = OneEuroParams()


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The exponential smoothing factor in (0, 1] of a first-order low-pass at ``cutoff`` Hz."""
    tau = 1.0 / (2.0 * math.pi * np.maximum(cutoff, 1e-9))
    return 1.0 / (1.0 + tau / dt)


def one_euro_step(
    x: np.ndarray, prev: np.ndarray, prev_dx: np.ndarray, dt: np.ndarray | float, params: OneEuroParams
) -> tuple[np.ndarray, np.ndarray]:
    """One step of the filter: ``(x_hat, dx_hat)`` from the new sample, the last output and speed.

    Element-wise, so one call steps one filter or a stack of them (``dt`` broadcast per filter,
    e.g. ``(N, 1, 1)`` for ``(N, 17, 2)`` keypoints); ``dt`` must be positive.
    """
    dx = (x - prev) / dt
    a_d = smoothing_factor(params.d_cutoff, dt)
    dx_hat = a_d * dx + (1.0 - a_d) * prev_dx
    a = smoothing_factor(params.min_cutoff + params.beta * np.abs(dx_hat), dt)
    return prev + a * (x - prev), dx_hat  # = a·x + (1-a)·prev, exact when x == prev


class OneEuroFilter:
    """Filters an array of values (e.g. ``(17, 2)`` keypoints) sample by sample.

    Every output is ``a·x + (1 - a)·previous`` with ``a`` in (0, 1], so it stays within the
    convex hull of the inputs seen so far, and a constant input passes unchanged.
    """

    def __init__(self, params: OneEuroParams = DEFAULT_PARAMS) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    def reset(self) -> None:
        self._x = None
        self._dx = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of ``x`` sampled at ``t`` seconds."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._dx is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:  # same or older timestamp: no time passed, keep the last output
            return self._x.copy()
        self._x, self._dx = one_euro_step(x, self._x, self._dx, dt, self.params)
        self._t = t
        return self._x.copy()


def filter_all(filters: Sequence[OneEuroFilter], xs: np.ndarray, t: float) -> np.ndarray:
    """``[f(x, t) for f, x in zip(filters, xs)]`` as one stacked array, in one vectorized step.

    A frame's tracks are all sampled at the same ``t`` but were last seen at different times, so
    ``dt`` is per filter. Filters that are new, or saw no time pass, take the single-filter path's
    answer; the others are stepped together. Filters with different parameters, and one or two
    filters (where stacking costs more than it saves), go one by one.
    """
    xs = np.asarray(xs, np.float64)
    out = np.empty_like(xs)
    if len(filters) == 0:
        return out
    if len(filters) < 3 or any(f.params != filters[0].params for f in filters):  # stacking costs more
        for i, f in enumerate(filters):
            out[i] = f(xs[i], t)
        return out
    step = []
    for i, f in enumerate(filters):
        if f._x is None or f._dx is None or t - f._t <= 0:
            out[i] = f(xs[i], t)
        else:
            step.append(i)
    if step:
        moving = [filters[i] for i in step]
        dt = np.array([t - f._t for f in moving]).reshape((-1,) + (1,) * (xs.ndim - 1))
        prev = np.stack([f._x for f in moving])
        prev_dx = np.stack([f._dx for f in moving])
        x_hat, dx_hat = one_euro_step(xs[step], prev, prev_dx, dt, filters[0].params)
        out[step] = x_hat
        for k, f in enumerate(moving):
            f._x, f._dx, f._t = x_hat[k], dx_hat[k], t
    return out
