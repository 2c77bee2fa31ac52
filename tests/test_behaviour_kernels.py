"""The behaviours' Numba kernels and their NumPy twins give the same results: on seeded random
poses, on hypothesis' poses, on the real model's poses, through whole frames of :class:`Behaviours`,
and with ``NUMBA_DISABLE_JIT``; and the stage compiles them before its first frame."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepose.analysis.behaviours.library import Loaded, entry_from_pose
from edgepose.analysis.behaviours.reps import RepCounter
from edgepose.analysis.behaviours.rules import PRESETS, RepRule
from edgepose.analysis.behaviours.settings import BehavioursSettings, FallSettings, MatchSettings, RepsSettings
from edgepose.analysis.behaviours.similarity import normalize, with_mirrors
from edgepose.analysis.behaviours.stage import Behaviours
from edgepose.kernels.behaviour import NUMPY, BehaviourKernels, load_behaviour_kernels
from tests.builders.figures import NOW, TOPPLE, fall_forward, frame_at, poses_of, random_poses, toppled, walking

NUMBA = load_behaviour_kernels("numba")
ROOT = Path(__file__).resolve().parents[1]


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal shapes, NaN in the same places, values equal to the last digits the sums' order can move."""
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def compared(library: np.ndarray, mirrored: bool) -> tuple[np.ndarray, np.ndarray]:
    lib = normalize(library)
    both = with_mirrors(lib) if mirrored else lib
    return np.ascontiguousarray(both.xy), np.ascontiguousarray(both.conf)


def assert_same_matches(kernels: BehaviourKernels, people: np.ndarray, library: np.ndarray) -> None:
    for mirrored in (False, True):
        xy, conf = compared(library, mirrored)
        for weighted in (True, False):
            i, s = kernels.best_match(people, xy, conf, len(library), weighted)
            j, t = NUMPY.best_match(people, xy, conf, len(library), weighted)
            np.testing.assert_allclose(s, t, rtol=0, atol=1e-12)
            # the same pose, unless two scored the same to the last digits (a tie either could win)
            differ = i != j
            assert np.all(np.abs(s[differ] - t[differ]) < 1e-12), (mirrored, weighted)
            assert differ.sum() <= len(people) // 50, (mirrored, weighted)


def test_body_measures_agree_on_random_poses() -> None:
    for seed in range(3):
        kp = random_poses(300, seed)
        assert_same(NUMBA.body_measures(kp, 0.3), NUMPY.body_measures(kp, 0.3))


def test_joint_angles_agree_on_random_poses() -> None:
    for seed in range(3):
        kp = random_poses(300, 10 + seed)
        got = NUMBA.joint_angles(kp, 0.3)
        assert_same(got, NUMPY.joint_angles(kp, 0.3))
        assert np.isnan(got).any() and not np.isnan(got).all()


def test_best_match_agrees_on_random_poses() -> None:
    kp = random_poses(200, 4)
    kp[5] = kp[6]  # one person on one pixel: a zero vector
    kp[5, :, :2] = 30.0
    library = random_poses(25, 5)[3:]  # not the all-hidden ones: their weights sum to more than 0
    assert_same_matches(NUMBA, kp, library)


def angles_with_gaps(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 180, (n, 9))
    a[rng.uniform(size=a.shape) < 0.35] = np.nan
    return a


def test_rep_values_agree_and_every_combine_is_covered() -> None:
    names = (
        "left_elbow",
        "right_elbow",
        "left_shoulder",
        "right_shoulder",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "torso",
    )
    rules = [*PRESETS.values(), RepRule("arms", ("left_elbow", "right_elbow", "left_shoulder"), 10, 20, "max")]
    columns, combine = RepCounter(rules)._columns(names)
    assert sorted(set(combine.tolist())) == [0, 1, 2] and columns[0, -1] == -1
    a = angles_with_gaps(500, 6)
    got = NUMBA.rep_values(a, columns, combine)
    assert_same(got, NUMPY.rep_values(a, columns, combine))
    assert np.isnan(got).any() and not np.isnan(got).all()


finite = st.floats(-2000, 2000, allow_nan=False, width=32)
pose = st.lists(st.tuples(finite, finite, st.floats(0, 1)), min_size=17, max_size=17)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pose, min_size=1, max_size=6), st.lists(pose, min_size=1, max_size=4), st.floats(0.0, 1.0))
def test_the_kernels_agree_on_any_poses(people: list, library: list, min_score: float) -> None:
    kp, lib = np.array(people, np.float64), np.array(library, np.float64)
    assert_same(NUMBA.body_measures(kp, min_score), NUMPY.body_measures(kp, min_score))
    got, want = NUMBA.joint_angles(kp, min_score), NUMPY.joint_angles(kp, min_score)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    for mirrored in (False, True):
        xy, conf = compared(lib, mirrored)
        for weighted in (True, False):
            _, s = NUMBA.best_match(kp, xy, conf, len(lib), weighted)
            _, t = NUMPY.best_match(kp, xy, conf, len(lib), weighted)
            np.testing.assert_allclose(s, t, rtol=0, atol=1e-9)


def all_on(mirror: bool = True, metric: str = "weighted") -> BehavioursSettings:
    return BehavioursSettings(
        MatchSettings(enabled=True, hold=0.5, mirror=mirror, metric=metric),
        FallSettings(enabled=True),
        RepsSettings(enabled=True, presets=("squat", "pushup", "curl")),
    )


@pytest.mark.parametrize(("mirror", "metric"), [(True, "weighted"), (False, "cosine")])
def test_whole_frames_give_the_same_matches_counts_and_events(mirror: bool, metric: str) -> None:
    library = Loaded(
        (
            entry_from_pose("standing", walking(0.0), {}, NOW),
            entry_from_pose("squatting", poses_of(1.0, [1, 2, 3])[2].keypoints, {}, NOW),
        ),
        (),
    )
    fast = Behaviours(all_on(mirror, metric), library, kernels=NUMBA)
    plain = Behaviours(all_on(mirror, metric), library)
    kinds = set()
    for i in range(10 * 15):
        poses = poses_of(i / 15, [1, 2, 3] if i < 120 else [1, None, 3])
        a, b = fast.step(frame_at(i / 15, poses)), plain.step(frame_at(i / 15, poses))
        assert a == b, i
        kinds |= {e.kind for e in a.events}
    assert kinds == {"pose_match", "fall", "rep"}


def test_the_real_models_toppling_squat_gives_the_same_frames(movenet_estimator, squat_rgb) -> None:
    """squat.bmp turned over (the fall test's frames) through MoveNet, with itself and two of its
    turns as the library: the same matches, counts and events (the fall among them) either way."""
    from edgepose.frame import Frame

    poses = {}
    for angle in sorted(set(TOPPLE)):
        got = movenet_estimator.estimate(Frame(toppled(squat_rgb, angle), 0, 0.0, 0.0)).poses
        assert got, angle
        poses[angle] = got[0]
    entries = tuple(entry_from_pose(f"turned-{int(a)}", poses[a].keypoints, {}, NOW) for a in (0.0, 37.5, 75.0))
    library = Loaded(entries, ())
    fast, plain = Behaviours(all_on(), library, kernels=NUMBA), Behaviours(all_on(), library)
    events = []
    for i, angle in enumerate(TOPPLE):
        p = poses[angle]
        frame = [type(p)(p.keypoints, p.score, p.box, 1)]
        a, b = fast.step(frame_at(i / 10.0, frame)), plain.step(frame_at(i / 10.0, frame))
        assert a == b, (i, angle)
        events += a.events
    assert "fall" in [e.kind for e in events]


def test_the_stage_gives_the_same_documents_and_events_with_either_kind() -> None:
    """The analysis stage as make_analysis builds it (angles, zones, all three behaviours) over the
    stage bench's walking people, numba against numpy: the same pose fields and events, frame by frame."""
    from edgepose.analysis.stage import make_analysis
    from edgepose.config import load_config
    from edgepose.pose import FrameResult, Pose

    b = "analysis.behaviours"
    every = [
        "analysis.enabled=true",
        f"{b}.match.enabled=true",
        f"{b}.falls.enabled=true",
        f"{b}.reps.enabled=true",
        f"{b}.reps.presets=[squat, pushup, curl]",
        "analysis.zones=[{name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}]",
    ]
    library = Loaded(tuple(entry_from_pose(f"p{i}", walking(i * 0.13), {}, NOW) for i in range(6)), ())
    stages = [
        make_analysis(load_config(None, [*every, f"decoder.kernel={k}"], env={}), "cam0", library)
        for k in ("numba", "numpy")
    ]
    assert [s.angles_of is NUMPY.joint_angles for s in stages] == [False, True]
    events = []
    for i in range(200):
        t = i / 15
        poses = tuple(
            Pose(k.astype(np.float32), 0.9, (0, 0, 1, 1), j)
            for j, k in enumerate([walking(t + 0.7 * j) for j in range(4)] + [fall_forward(t)])
        )
        result = FrameResult(i, 1.8e9 + t, t, 1280, 720, "cam0", poses)
        fast, plain = (s(result) for s in stages)
        assert {k: list(v) for k, v in fast.pose_fields.items()} == {k: list(v) for k, v in plain.pose_fields.items()}
        assert fast.events == plain.events and fast.falls == plain.falls, i
        events += fast.events
    assert {"pose_match", "fall", "zone_enter"} <= {e.kind for e in events}
    assert all(s.failures == 0 for s in stages)


def test_without_the_jit_the_kernels_run_as_python_and_agree() -> None:
    """The ``NUMBA_DISABLE_JIT`` path (coverage runs the kernels' Python this way)."""
    code = (
        "import numpy as np\n"
        "from edgepose.kernels.behaviour import NUMPY, load_behaviour_kernels\n"
        "from tests.builders.figures import random_poses\n"
        "from tests.test_behaviour_kernels import assert_same, assert_same_matches\n"
        "k = load_behaviour_kernels('numba')\n"
        "kp = random_poses(40, 8)\n"
        "assert_same(k.body_measures(kp, 0.3), NUMPY.body_measures(kp, 0.3))\n"
        "assert_same(k.joint_angles(kp, 0.3), NUMPY.joint_angles(kp, 0.3))\n"
        "assert_same_matches(k, kp, random_poses(12, 9)[2:])\n"
        "import numba\nprint(type(k.body_measures).__name__)\n"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "function"  # plain Python, not a Numba dispatcher


def test_the_stage_compiles_the_kernels_before_its_first_frame(tmp_path: Path) -> None:
    from edgepose.analysis.stage import make_analysis
    from edgepose.config import load_config
    from edgepose.kernels import behaviour_compiled as compiled
    from edgepose.pose import FrameResult, Pose

    b = "analysis.behaviours"
    config = load_config(
        None,
        [
            "analysis.enabled=true",
            f"{b}.falls.enabled=true",
            f"{b}.reps.enabled=true",
            f"{b}.match.enabled=true",
            "decoder.kernel=numba",
        ],
        env={},
    )
    library = Loaded((entry_from_pose("standing", walking(0.0), {}, NOW),), ())
    stage = make_analysis(config, "cam0", library)
    assert stage is not None and stage.behaviours.behaviours.kernels.kind == "numba"
    kernels = (compiled.body_measures, compiled.joint_angles, compiled.best_match, compiled.rep_values)
    before = [len(k.signatures) for k in kernels]
    assert all(before)
    poses = tuple(Pose(walking(j).astype(np.float32), 0.9, (0, 0, 1, 1), j) for j in range(3))
    stage.apply(FrameResult(0, 1.8e9, 0.0, 1280, 720, "cam0", poses))
    assert [len(k.signatures) for k in kernels] == before  # the first frame compiled nothing
    assert stage.failures == 0
    numpy_config = load_config(
        None, ["analysis.enabled=true", f"{b}.falls.enabled=true", "decoder.kernel=numpy"], env={}
    )
    assert make_analysis(numpy_config, "cam0").behaviours.behaviours.kernels is NUMPY
