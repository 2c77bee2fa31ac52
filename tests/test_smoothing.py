"""The One Euro filter against its closed-form properties, and smoothing inside the tracker."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.pose import Pose, box_from_keypoints
from edgepose.tracking.similarity import oks
from edgepose.tracking.smoothing import OneEuroFilter, OneEuroParams, smoothing_factor
from edgepose.tracking.tracker import PoseTracker, keypoint_similarity

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(values, st.floats(1e-3, 0.5))
def test_output_stays_within_the_convex_hull_of_the_inputs(xs: list[float], dt: float) -> None:
    f = OneEuroFilter()
    for i, x in enumerate(xs):
        out = float(f(np.array([x]), i * dt)[0])
        seen = xs[: i + 1]
        assert min(seen) - 1e-9 <= out <= max(seen) + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.floats(-1e3, 1e3, allow_nan=False), st.integers(1, 50))
def test_a_constant_signal_passes_unchanged(c: float, n: int) -> None:
    f = OneEuroFilter()
    for i in range(n):
        assert f(np.array([c, c]), i / 30)[0] == c


def test_smoothing_factor_is_the_first_order_low_pass() -> None:
    # a = 1 / (1 + tau / dt), tau = 1 / (2 pi fc)
    assert smoothing_factor(2.5, 1 / 30) == pytest.approx(1 / (1 + (1 / (2 * math.pi * 2.5)) * 30))


def test_speed_raises_the_cutoff_so_a_moving_point_lags_less() -> None:
    ramp = [np.array([0.01 * i]) for i in range(30)]  # 0.3 frame widths a second at 30 fps
    lag = {}
    for beta in (0.0, 300.0):
        f = OneEuroFilter(OneEuroParams(beta=beta))
        out = [f(x, i / 30) for i, x in enumerate(ramp)]
        lag[beta] = float(ramp[-1][0] - out[-1][0])
    assert 0 < lag[300.0] < lag[0.0] / 3


def test_without_beta_it_is_the_exponential_low_pass_at_min_cutoff() -> None:
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0))
    f(np.array([0.0]), 0.0)
    a = smoothing_factor(1.0, 0.1)
    assert f(np.array([1.0]), 0.1)[0] == pytest.approx(a)
    assert f(np.array([1.0]), 0.2)[0] == pytest.approx(a + a * (1 - a))


def test_jitter_is_reduced_when_still() -> None:
    rng = np.random.default_rng(7)
    noisy = 0.5 + rng.normal(0, 0.002, 200)  # about 1 px of jitter on a 640 px frame, at 30 fps
    f = OneEuroFilter()
    out = np.array([f(np.array([x]), i / 30)[0] for i, x in enumerate(noisy)])
    assert np.std(out[20:]) < 0.85 * np.std(noisy[20:])


def test_no_time_passed_keeps_the_last_output() -> None:
    f = OneEuroFilter()
    f(np.array([1.0]), 0.0)
    assert f(np.array([9.0]), 0.0)[0] == 1.0


def pose_at(x: float) -> Pose:
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = x + np.arange(17) * 3.0
    kp[:, 1] = 100 + np.arange(17) * 10.0
    kp[:, 2] = 0.9
    return Pose(kp, 0.9, box_from_keypoints(kp))


def test_tracker_smooths_per_track_and_resets_when_the_track_ends() -> None:
    tracker = PoseTracker(keypoint_similarity(), 0.2, max_age=1.0)
    first = tracker.update([pose_at(100)], 0.0, 640, 480)[0]
    np.testing.assert_array_equal(first.keypoints, pose_at(100).keypoints)  # first sample passes
    moved = tracker.update([pose_at(104)], 1 / 30, 640, 480)[0]
    raw = pose_at(104).keypoints
    assert moved.id == first.id
    assert np.all(moved.keypoints[:, 0] < raw[:, 0]) and np.all(moved.keypoints[:, 0] > 100)
    np.testing.assert_array_equal(moved.keypoints[:, 2], raw[:, 2])  # scores are not filtered
    tracker.update([], 2.0, 640, 480)  # the track ends, its filter with it
    again = tracker.update([pose_at(300)], 2.1, 640, 480)[0]
    assert again.id != first.id
    np.testing.assert_array_equal(again.keypoints, pose_at(300).keypoints)
    assert oks(again.keypoints, pose_at(300).keypoints) == pytest.approx(1.0)


def test_smoothing_off_passes_keypoints_through() -> None:
    tracker = PoseTracker(keypoint_similarity(), 0.2, smoothing=None)
    tracker.update([pose_at(100)], 0.0, 640, 480)
    out = tracker.update([pose_at(104)], 1 / 30, 640, 480)[0]
    np.testing.assert_array_equal(out.keypoints, pose_at(104).keypoints)
    assert out.id == 0
