"""Repetition counting: noisy synthetic angle sequences (the hysteresis holds), the presets, custom
rules and resets, and a squat sequence built from the real model's keypoints of squat.bmp."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.behaviours.geometry import joint_angles
from edgepose.analysis.behaviours.reps import RepCounter
from edgepose.analysis.behaviours.rules import PRESETS, RepRule
from edgepose.analysis.behaviours.settings import RepSpec, RepsSettings
from edgepose.keypoints import KP

FPS = 15.0


def cycles(n: int, top: float, bottom: float, period: float = 2.0, rest: float = 1.0) -> list[float]:
    """n repetitions of an angle from top to bottom and back (cosine-shaped), with rest at the top around them."""
    out = [top] * int(rest * FPS)
    for i in range(int(n * period * FPS)):
        phase = 2 * math.pi * (i / FPS) / period
        out.append(bottom + (top - bottom) * (0.5 + 0.5 * math.cos(phase)))
    return out + [top] * int(rest * FPS)


def count(values: list[float | None], rule: RepRule, name: str = "left_knee") -> tuple[int, list]:
    counter = RepCounter([rule])
    events = []
    for i, v in enumerate(values):
        events += counter.update(i / FPS, 7, {name: v})
    return counter.count(7, rule.name), events


SQUAT_ONE_KNEE = RepRule("squat", ("left_knee",), low=100.0, high=160.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sigma", [0.0, 4.0, 8.0])
def test_noisy_squats_are_counted_once_each(seed: int, sigma: float) -> None:
    """Five squats 175 -> 80 -> 175 with Gaussian noise of up to 8 degrees (a band of 60 between the thresholds)."""
    rng = np.random.default_rng(seed)
    values = (np.array(cycles(5, 175.0, 80.0)) + rng.normal(0, sigma, len(cycles(5, 175.0, 80.0)))).tolist()
    n, events = count(values, SQUAT_ONE_KNEE)
    assert n == 5
    assert [e.data["count"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e.kind == "rep" and e.track == 7 and e.data["exercise"] == "squat" for e in events)


def test_jitter_across_one_threshold_counts_nothing_extra() -> None:
    """Hovering at the bottom threshold (crossing it 20 times) then at the top one: one repetition."""
    rng = np.random.default_rng(4)
    values = [170.0] * 10
    values += (100.0 + rng.uniform(-8, 8, 60)).tolist()  # in and out of the bottom
    values += (160.0 + rng.uniform(-8, 8, 60)).tolist()  # in and out of the top
    values += [170.0] * 10
    n, events = count(values, SQUAT_ONE_KNEE)
    crossings = sum((a > 100) != (b > 100) for a, b in itertools.pairwise(values))
    assert crossings >= 20
    assert n == 1 and len(events) == 1


def test_a_shallow_squat_is_not_a_repetition() -> None:
    n, _ = count(cycles(3, 175.0, 105.0), SQUAT_ONE_KNEE)  # never down to 100
    assert n == 0


def test_a_track_first_seen_at_the_bottom_counts_only_full_repetitions() -> None:
    values = [85.0] * 10 + [170.0] * 10 + cycles(2, 170.0, 85.0)  # appears mid-squat, stands, squats twice
    n, _ = count(values, SQUAT_ONE_KNEE)
    assert n == 2


def test_frames_without_the_angle_change_nothing() -> None:
    values: list[float | None] = [170.0] * 5 + [None] * 5 + [85.0] * 5 + [None] * 5 + [170.0] * 5
    n, _ = count(values, SQUAT_ONE_KNEE)
    assert n == 1


def test_presets() -> None:
    """Squat and push-up take the mean of both sides; a curl the more bent elbow (one arm curls)."""
    counter = RepCounter(PRESETS.values())
    events = []
    for i, v in enumerate(cycles(3, 170.0, 80.0)):
        events += counter.update(i / FPS, 1, {"left_knee": v, "right_knee": v + 4})
    for i, v in enumerate(cycles(4, 165.0, 70.0)):
        events += counter.update(i / FPS, 2, {"left_elbow": v, "right_elbow": v - 2})
    for i, v in enumerate(cycles(2, 150.0, 40.0)):
        events += counter.update(i / FPS, 3, {"left_elbow": 170.0, "right_elbow": v})  # right arm curls
    assert counter.counts(1) == {"squat": 3, "pushup": 0, "curl": 0}
    # The push-ups' elbows bottom out at 68-70, above the curl's 60: no curls counted for them.
    assert counter.counts(2) == {"squat": 0, "pushup": 4, "curl": 0}
    assert counter.counts(3) == {"squat": 0, "pushup": 0, "curl": 2}  # the mean (105 .. 160) never reaches 90


def test_custom_rules_from_settings_and_their_refusals() -> None:
    settings = RepsSettings(presets=(), custom=(RepSpec("lunge", ("left_knee",), "mean", 95.0, 150.0),))
    (rule,) = settings.rules()
    n, _ = count(cycles(3, 170.0, 80.0), rule)
    assert n == 3
    with pytest.raises(ValueError, match="below high"):
        RepRule("x", ("left_knee",), low=160.0, high=100.0)
    with pytest.raises(ValueError, match="repeat"):
        RepCounter([SQUAT_ONE_KNEE, SQUAT_ONE_KNEE])


def test_reset_one_track_or_all() -> None:
    counter = RepCounter([SQUAT_ONE_KNEE])
    for track in (1, 2):
        for i, v in enumerate(cycles(2, 170.0, 80.0)):
            counter.update(i / FPS, track, {"left_knee": v})
    counter.reset(1)
    assert counter.count(1, "squat") == 0 and counter.count(2, "squat") == 2
    counter.reset()
    assert counter.count(2, "squat") == 0
    # After a reset the track starts unknown again: a rise from the bottom is no repetition.
    for i, v in enumerate([85.0, 170.0]):
        counter.update(i, 2, {"left_knee": v})
    assert counter.count(2, "squat") == 0


# --- a squat sequence built from the real model's keypoints -----------------------------------------


@pytest.fixture(scope="module")
def squat_keypoints(movenet_path: Path, squat_rgb: np.ndarray) -> np.ndarray:
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    estimator = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig())
    return estimator.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses[0].keypoints.astype(np.float64)


def stood_up(kp: np.ndarray) -> np.ndarray:
    """The same person standing: each leg straightened below its ankle (thigh and shin keep the
    model's lengths), the upper body raised with the hips and made upright."""
    out = kp.copy()
    for side in ("left", "right"):
        hip, knee, ankle = (KP[f"{side}_{j}"] for j in ("hip", "knee", "ankle"))
        thigh = np.linalg.norm(kp[knee, :2] - kp[hip, :2])
        shin = np.linalg.norm(kp[ankle, :2] - kp[knee, :2])
        out[knee, :2] = kp[ankle, :2] - (0.0, shin)
        out[hip, :2] = out[knee, :2] - (0.0, thigh)
    rise = out[[KP["left_hip"], KP["right_hip"]], :2].mean(axis=0) - kp[[KP["left_hip"], KP["right_hip"]], :2].mean(
        axis=0
    )
    upper = [i for i in range(17) if i < KP["left_hip"]]
    out[upper, :2] += rise
    return out


def test_a_squat_sequence_from_the_real_model_counts_its_repetitions(squat_keypoints: np.ndarray) -> None:
    bottom = squat_keypoints
    top = stood_up(bottom)
    knees_bottom = joint_angles(bottom, 0.3)
    knees_top = joint_angles(top, 0.3)
    # The photographed squat is one: both knees below the preset's 100 degrees; standing, straight.
    assert knees_bottom["left_knee"] < 100 and knees_bottom["right_knee"] < 100, knees_bottom
    assert knees_top["left_knee"] > 175 and knees_top["right_knee"] > 175, knees_top
    rng = np.random.default_rng(5)
    counter = RepCounter([PRESETS["squat"]])
    events = []
    reps, period = 4, 2.0
    frames = int(FPS * (reps * period + 1))
    for i in range(frames):
        t = i / FPS
        depth = 0.5 - 0.5 * math.cos(2 * math.pi * t / period) if t < reps * period else 0.0
        kp = top + (bottom - top) * depth
        kp[:, :2] += rng.normal(0, 2.0, (17, 2))  # 2 px of keypoint jitter
        events += counter.update(t, 1, joint_angles(kp, 0.3))
    assert counter.count(1, "squat") == reps
    assert [e.data["count"] for e in events] == list(range(1, reps + 1))


def test_update_all_counts_what_update_counts() -> None:
    """The frame-at-once form over a (P, A) array against the per-track mapping form, NaNs included."""
    rng = np.random.default_rng(8)
    names = ("left_knee", "right_knee", "left_elbow", "right_elbow")
    one, many = RepCounter(PRESETS.values()), RepCounter(PRESETS.values())
    by_one, by_many = [], []
    base = np.array([np.roll(cycles(6, 175.0, 40.0, period=1.0), 3 * k) for k in range(4)]).T  # (T, 4) angles
    for i, row in enumerate(base):
        frame = np.stack([row + rng.normal(0, 5, 4) for _ in range(5)])  # 5 tracks
        frame[rng.uniform(size=frame.shape) < 0.2] = np.nan  # unknown angles
        for track, angles in enumerate(frame.tolist()):
            by_one += one.update(i / FPS, track, {n: None if v != v else v for n, v in zip(names, angles, strict=True)})
        by_many += many.update_all(i / FPS, range(5), frame, names)

    def key(e) -> tuple:  # update orders a frame's events by track, update_all by rule
        return (e.ts, e.track, e.data["exercise"])

    assert sorted(by_one, key=key) == sorted(by_many, key=key) and len(by_many) > 20
    assert {e.data["exercise"] for e in by_many} == {"squat", "pushup", "curl"}
