"""Joint angles: closed-form cases, invariances, the frame's aspect, and a real squat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.angles import angle_table, joint_angles
from edgepose.analysis.joints import ANGLE_NAMES, ANGLES, JOINTS
from edgepose.keypoints import KEYPOINT_NAMES, KP

COLUMN = {name: i for i, name in enumerate(ANGLE_NAMES)}
MIN = 0.3


def person(**points: tuple[float, float]) -> np.ndarray:
    """``(1, 17, 3)`` keypoints: the named ones at the given pixels with score 1, the rest invisible."""
    kp = np.zeros((1, 17, 3))
    for name, (x, y) in points.items():
        kp[0, KP[name]] = (x, y, 1.0)
    return kp


def angle(kp: np.ndarray, name: str) -> float:
    return float(joint_angles(kp, MIN)[0, COLUMN[name]])


# (keypoints of the left leg as hip, knee, ankle in pixels, expected left_knee degrees)
KNEE_CASES = [
    (((100, 100), (100, 200), (200, 200)), 90.0),  # right angle
    (((100, 100), (100, 200), (100, 300)), 180.0),  # straight leg
    (((100, 100), (100, 200), (100, 150)), 0.0),  # collinear, folded back on itself
    (((0, 0), (10, 0), (20, 10)), 135.0),  # 45 degrees off straight
    (((0, 0), (1, 0), (1 + 3, 4)), 180.0 - np.degrees(np.arctan2(4, 3))),  # 3-4-5 triangle
    (((100, 100), (100, 200), (100.0, 300 + 1e-9)), 180.0),  # near straight: atan2 keeps the digits
]


@pytest.mark.parametrize(("points", "expected"), KNEE_CASES)
def test_knee_closed_form(points, expected: float) -> None:
    hip, knee, ankle = points
    kp = person(left_hip=hip, left_knee=knee, left_ankle=ankle)
    assert angle(kp, "left_knee") == pytest.approx(expected, abs=1e-9)


# (what is wrong, keypoints) -> left_knee is NaN
MISSING_CASES = [
    ("ankle below the score", lambda kp: kp.__setitem__((0, KP["left_ankle"], 2), MIN - 0.01)),
    ("hip unscored", lambda kp: kp.__setitem__((0, KP["left_hip"], 2), 0.0)),
    ("knee NaN", lambda kp: kp.__setitem__((0, KP["left_knee"], 0), np.nan)),
    ("ankle on the knee (no ray)", lambda kp: kp.__setitem__((0, KP["left_ankle"], slice(0, 2)), (100, 200))),
]


@pytest.mark.parametrize(("why", "spoil"), MISSING_CASES, ids=[c[0] for c in MISSING_CASES])
def test_missing_keypoints_give_nan(why: str, spoil) -> None:
    kp = person(left_hip=(100, 100), left_knee=(100, 200), left_ankle=(200, 200))
    spoil(kp)
    assert np.isnan(angle(kp, "left_knee"))


def test_a_keypoint_at_the_score_counts() -> None:
    kp = person(left_hip=(100, 100), left_knee=(100, 200), left_ankle=(200, 200))
    kp[0, KP["left_ankle"], 2] = MIN
    assert angle(kp, "left_knee") == pytest.approx(90.0)


def test_other_angles_unaffected_by_a_missing_limb() -> None:
    kp = person(left_shoulder=(0, 0), left_elbow=(0, 10), left_wrist=(10, 10), left_hip=(5, 40))
    angles = joint_angles(kp, MIN)[0]
    assert angles[COLUMN["left_elbow"]] == pytest.approx(90.0)
    assert np.isnan(angles[COLUMN["left_knee"]]) and np.isnan(angles[COLUMN["right_elbow"]])


# (shoulders, hips, expected torso_lean): image up is -y
LEAN_CASES = [
    (((90, 0), (110, 0)), ((90, 100), (110, 100)), 0.0),  # upright
    (((190, 100), (190, 120)), ((90, 100), (90, 120)), 90.0),  # lying, head right
    (((-10, 100), (-10, 120)), ((90, 100), (90, 120)), 90.0),  # lying, head left: unsigned
    (((100, 0), (100, 0.0)), ((0, 100), (0, 100.0)), 45.0),  # leaning 45 degrees
    (((90, 200), (110, 200)), ((90, 100), (110, 100)), 180.0),  # upside down
]


@pytest.mark.parametrize(("shoulders", "hips", "expected"), LEAN_CASES)
def test_torso_lean(shoulders, hips, expected: float) -> None:
    kp = person(left_shoulder=shoulders[0], right_shoulder=shoulders[1], left_hip=hips[0], right_hip=hips[1])
    assert angle(kp, "torso_lean") == pytest.approx(expected, abs=1e-9)


def test_torso_lean_with_one_side_visible() -> None:
    """A person seen from the side: one shoulder and one hip are enough."""
    kp = person(left_shoulder=(100, 0), left_hip=(100, 100), right_hip=(300, 100))
    kp[0, KP["right_hip"], 2] = 0.0
    assert angle(kp, "torso_lean") == pytest.approx(0.0)


def random_people(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.empty((n, 17, 3))
    kp[..., :2] = rng.uniform(0, 500, (n, 17, 2))
    kp[..., 2] = rng.uniform(0, 1, (n, 17))
    return kp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translation_and_uniform_scale_change_nothing(seed: int) -> None:
    kp = random_people(20, seed)
    base = joint_angles(kp, MIN)
    moved = kp.copy()
    moved[..., :2] = moved[..., :2] * 3.7 + (123.0, -45.0)
    np.testing.assert_allclose(joint_angles(moved, MIN), base, atol=1e-9, equal_nan=True)
    assert np.isfinite(base).any() and np.isnan(base).any()  # both kinds of value were exercised


def test_angles_are_in_square_pixels_not_normalized_coordinates() -> None:
    """On a 16:9 frame, a right angle in pixels is not one in 0..1 coordinates: angles use pixels."""
    w, h = 1280, 720
    kp = person(left_hip=(500, 200), left_knee=(600, 300), left_ankle=(500, 400))  # diagonal thigh and shin
    assert angle(kp, "left_knee") == pytest.approx(90.0)
    normalized = kp.copy()
    normalized[..., 0] /= w
    normalized[..., 1] /= h
    assert angle(normalized, "left_knee") != pytest.approx(90.0, abs=1.0)  # the distortion pixels avoid


def test_shapes_and_table() -> None:
    assert joint_angles(np.zeros((0, 17, 3)), MIN).shape == (0, len(ANGLE_NAMES))
    with pytest.raises(ValueError, match=r"\(P, 17, 3\)"):
        joint_angles(np.zeros((17, 3)), MIN)
    table = angle_table()
    assert list(table) == list(ANGLE_NAMES) == list(ANGLES)
    names = set(KEYPOINT_NAMES) | {"mid_shoulder", "mid_hip", "up"}
    assert all(len(t) == 3 and set(t) <= names for t in table.values())
    assert table["left_knee"] == ["left_hip", "left_knee", "left_ankle"]


def test_the_published_names_and_order() -> None:
    """Each pose's ``angles`` and meta's table follow this order (docs/analysis.md shows it)."""
    limbs = ("left_elbow", "right_elbow", "left_shoulder", "right_shoulder", "left_hip", "right_hip")
    assert (*limbs, "left_knee", "right_knee", "torso_lean") == ANGLE_NAMES


def test_the_repetitions_angle_names_are_the_tables_limb_angles() -> None:
    from typing import get_args

    from edgepose.analysis.behaviours.settings import JointName

    assert get_args(JointName) == tuple(JOINTS)
    assert all(tuple(KEYPOINT_NAMES[i] for i in JOINTS[n]) == ANGLES[n] for n in JOINTS)


def test_outputs_in_range() -> None:
    angles = joint_angles(random_people(200, 7), 0.0)
    assert np.isfinite(angles).all()
    assert (angles >= 0).all() and (angles <= 180).all()


# A squat: thighs near horizontal, knees bent to about a right angle. A standing leg reads over
# 160 degrees; the bound keeps clear of it and of a deep crouch.
SQUAT_KNEE_DEGREES = (70.0, 120.0)


@pytest.mark.pi
def test_squat_through_the_real_model_bends_both_knees(movenet_path: Path, squat_rgb: np.ndarray) -> None:
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.frame import Frame
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    estimator = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig())
    result = estimator.estimate(Frame(squat_rgb, 0, 0.0, 0.0))
    kp = np.stack([p.keypoints for p in result.poses])
    angles = joint_angles(kp, MIN)[0]
    lo, hi = SQUAT_KNEE_DEGREES
    for knee in ("left_knee", "right_knee"):
        assert lo <= angles[COLUMN[knee]] <= hi, (knee, angles[COLUMN[knee]])
    for hip in ("left_hip", "right_hip"):  # folded at the hips too: a squat, not a lunge
        assert angles[COLUMN[hip]] < 120.0, (hip, angles[COLUMN[hip]])
