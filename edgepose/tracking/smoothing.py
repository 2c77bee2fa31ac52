"""One Euro filter (Casiez et al., CHI 2012) for keypoint coordinates.

A low-pass filter whose cutoff rises with speed: jitter is removed while a person stands still,
and lag stays small when they move. Coordinates are **normalized to the frame** (x / width,
y / height) so the defaults (min cutoff 2.5 Hz, beta 300, derivative cutoff 2.5 Hz) do not depend
on the camera's resolution; time is in **seconds** (capture timestamps).
"""

from __future__ import annotations

import math
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
        p = self.params
        dx = (x - self._x) / dt
        a_d = smoothing_factor(p.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        a = smoothing_factor(p.min_cutoff + p.beta * np.abs(dx_hat), dt)
        x_hat = self._x + a * (x - self._x)  # = a·x + (1-a)·prev, exact when x == prev
        self._x, self._dx, self._t = x_hat, dx_hat, t
        return x_hat.copy()
