"""The behaviours over whole frames: the vectorized measurements against their one-pose twins, and
:class:`Behaviours` giving each pose its match and counts and the frame its events."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepose.analysis.angles import joint_angles
from edgepose.analysis.behaviours.falls import FallDetector
from edgepose.analysis.behaviours.geometry import (
    body_lean,
    body_measures,
    hip_centre,
    joint_angle,
    torso_lean,
    visible_extent,
)
from edgepose.analysis.behaviours.library import Loaded, entry_from_pose
from edgepose.analysis.behaviours.settings import BehavioursSettings, FallSettings, MatchSettings, RepsSettings
from edgepose.analysis.behaviours.stage import Behaviours
from edgepose.analysis.events import Event
from edgepose.analysis.joints import ANGLE_NAMES, JOINTS
from edgepose.pose import Pose
from tests.builders.figures import NOW, fall_forward, frame_at, poses_of, random_poses, walking


def same(a: float | None, b: float) -> bool:
    return (a is None and math.isnan(b)) or (a is not None and a == pytest.approx(b, abs=1e-9))


def test_body_measures_agree_with_the_one_pose_functions() -> None:
    kp = random_poses(300, 1)
    b = body_measures(kp, 0.3)
    for i, pose in enumerate(kp):
        rows = pose.tolist()
        hips = hip_centre(rows, 0.3)
        extent = visible_extent(rows, 0.3)
        assert same(None if hips is None else hips[0], b.hip_x[i]) and same(
            None if hips is None else hips[1], b.hip_y[i]
        )
        assert same(torso_lean(rows, 0.3), b.lean[i]) and same(body_lean(rows, 0.3), b.body[i])
        assert same(None if extent is None else extent[1], b.bottom[i])
        assert same(None if extent is None else extent[2], b.height[i])


def test_the_one_pose_joint_angles_are_the_frames_columns() -> None:
    """geometry's one-pose angles and the frame's angles read one table: same names, same degrees."""
    kp = random_poses(300, 2)
    got = joint_angles(kp, 0.3)
    assert list(JOINTS) == [n for n in ANGLE_NAMES if n != "torso_lean"]  # the limb angles, in table order
    for i, pose in enumerate(kp.tolist()):
        for name in JOINTS:
            assert same(joint_angle(pose, name, 0.3), got[i, ANGLE_NAMES.index(name)]), (i, name)
    assert np.isnan(got).any() and not np.isnan(got).all()


def test_update_all_gives_the_events_of_update_one_by_one() -> None:
    one, many = FallDetector(), FallDetector()
    by_one, by_many = [], []
    for i in range(150):
        t = i / 15
        kp = np.stack([walking(t), fall_forward(t), fall_forward(t - 1.0, sign=-1.0)])
        for track, pose in enumerate(kp):
            by_one += one.update(t, track, pose)
        by_many += many.update_all(t, [0, 1, 2], kp)
    assert by_one == by_many and [e.track for e in by_many if e.kind == "fall"] == [1, 2]


def test_behaviours_over_frames() -> None:
    library = Loaded((entry_from_pose("standing", walking(0.0), {}, NOW),), ())
    settings = BehavioursSettings(
        MatchSettings(enabled=True, hold=0.5), FallSettings(enabled=True), RepsSettings(enabled=True)
    )
    behaviours = Behaviours(settings, library)
    events, last = [], None
    for i in range(10 * 15):
        last = behaviours.step(frame_at(i / 15, poses_of(i / 15, [1, 2, 3])))
        events += last.events
    kinds = sorted({(e.kind, e.track_id) for e in events})
    assert all(type(e) is Event for e in events)  # the analysis stage's events, on the frames' own time
    assert {e.ts for e in events} <= {1.8e9 + i / 15 for i in range(10 * 15)}
    assert ("fall", 2) in kinds and ("rep", 3) in kinds and ("pose_match", 1) in kinds, kinds
    assert not {("fall", 1), ("fall", 3)} & set(kinds)
    assert last.match[0]["pose"] == "standing" and last.match[0]["score"] > 0.9
    assert last.reps[2]["squat"] >= 3 and last.reps[0] == {"squat": 0}
    behaviours.reset_reps()
    assert behaviours.step(frame_at(10.0, poses_of(10.0, [1, 2, 3]))).reps[2] == {"squat": 0}


def test_untracked_poses_get_a_match_and_nothing_else() -> None:
    library = Loaded((entry_from_pose("standing", walking(0.0), {}, NOW),), ())
    behaviours = Behaviours(
        BehavioursSettings(
            MatchSettings(enabled=True, hold=0.0), FallSettings(enabled=True), RepsSettings(enabled=True)
        ),
        library,
    )
    got = behaviours.step(frame_at(0.0, poses_of(0.0, [None, None, None])))
    assert all(m is not None for m in got.match) and got.reps == (None, None, None) and got.events == ()


def test_everything_off_or_an_empty_library() -> None:
    got = Behaviours(BehavioursSettings()).step(frame_at(0.0, poses_of(0.0, [1, 2, 3])))
    assert got.match == (None,) * 3 and got.reps == (None,) * 3 and got.events == ()
    on = BehavioursSettings(MatchSettings(enabled=True))
    assert Behaviours(on, Loaded((), ())).step(frame_at(0.0, poses_of(0.0, [1, 2, 3]))).match == (None,) * 3
    assert Behaviours(on, Loaded((), ())).step(frame_at(0.0, [])).events == ()


def test_the_analysis_stages_angles_give_the_same_counts() -> None:
    """step_arrays with the angles the analysis stage computed (its names and column order) counts as step does."""
    from edgepose.analysis.angles import joint_angles
    from edgepose.analysis.joints import ANGLE_NAMES

    settings = BehavioursSettings(reps=RepsSettings(enabled=True, presets=("squat", "pushup", "curl")))
    own, given = Behaviours(settings), Behaviours(settings)
    assert own.needs_angles
    for i in range(6 * 15):
        poses = poses_of(i / 15, [1, 2, 3])
        keypoints = np.array([p.keypoints for p in poses], np.float64)
        a = own.step(frame_at(i / 15, poses))
        b = given.step_arrays(frame_at(i / 15, poses), keypoints, (1, 2, 3), joint_angles(keypoints, 0.2), ANGLE_NAMES)
        assert a.reps == b.reps and a.events == b.events
    assert a.reps[2]["squat"] >= 2


def test_unseen_tracks_are_forgotten() -> None:
    settings = BehavioursSettings(falls=FallSettings(enabled=True), reps=RepsSettings(enabled=True))
    behaviours = Behaviours(settings, forget_after=5.0)
    for i in range(3 * 15):  # track 3 squats, then leaves; track 1 walks on
        behaviours.step(frame_at(i / 15, poses_of(i / 15, [1, 2, 3])))
    assert behaviours.step(frame_at(3.0, poses_of(3.0, [1, 2, 3]))).reps[2]["squat"] >= 1
    for i in range(3 * 15, 9 * 15):
        behaviours.step(frame_at(i / 15, poses_of(i / 15, [1, None, None])))
    assert behaviours.tracks == (1,)  # 2 and 3 unseen for more than 5 s
    assert behaviours.step(frame_at(9.0, poses_of(9.0, [1, 2, 3]))).reps[2] == {"squat": 0}
    behaviours.reset()
    assert behaviours.tracks == ()


def bench(people: int = 10, poses: int = 20, frames: int = 300) -> dict[str, float]:
    """Milliseconds per frame of :meth:`Behaviours.step` (all three on) for walking people and a random library."""
    import time

    rng = np.random.default_rng(1)
    library = Loaded(tuple(entry_from_pose(f"p{i}", rng.uniform(0, 500, (17, 3)), {}, NOW) for i in range(poses)), ())
    settings = BehavioursSettings(
        MatchSettings(enabled=True),
        FallSettings(enabled=True),
        RepsSettings(enabled=True, presets=("squat", "pushup", "curl")),
    )
    stream = [
        frame_at(t, [Pose(walking(t + j).astype(np.float32), 0.9, (0, 0, 1, 1), j) for j in range(people)], i)
        for i, t in enumerate(np.arange(frames) / 15)
    ]
    out = {}
    for name, s in (
        ("match", BehavioursSettings(settings.match)),
        ("falls", BehavioursSettings(falls=settings.falls)),
        ("reps", BehavioursSettings(reps=settings.reps)),
        ("all", settings),
    ):
        behaviours = Behaviours(s, library)
        start = time.perf_counter()
        for frame in stream:
            behaviours.step(frame)
        out[name] = (time.perf_counter() - start) / frames * 1e3
    return out


def stage_bench(people: int = 10, poses: int = 20, frames: int = 300, kernel: str = "auto") -> dict[str, float]:
    """Milliseconds per frame of the analysis stage as the daemon builds it (:func:`make_analysis`:
    angles, then the behaviours with a ``poses``-pose library): the bench's ``analysis`` column.
    ``kernel``: ``decoder.kernel``, which also picks the behaviours' kernels (numba or their NumPy twins)."""
    import time

    from edgepose.analysis.stage import make_analysis
    from edgepose.config import load_config
    from edgepose.pose import FrameResult

    rng = np.random.default_rng(1)
    library = Loaded(tuple(entry_from_pose(f"p{i}", rng.uniform(0, 500, (17, 3)), {}, NOW) for i in range(poses)), ())
    stream = [
        FrameResult(
            i,
            1.8e9 + t,
            t,
            1280,
            720,
            "cam0",
            tuple(Pose(walking(t + j).astype(np.float32), 0.9, (0, 0, 1, 1), j) for j in range(people)),
        )
        for i, t in enumerate(np.arange(frames) / 15)
    ]
    on = ["analysis.enabled=true", f"decoder.kernel={kernel}"]
    b = "analysis.behaviours"
    every = [
        f"{b}.match.enabled=true",
        f"{b}.falls.enabled=true",
        f"{b}.reps.enabled=true",
        f"{b}.reps.presets=[squat, pushup, curl]",
    ]
    out = {}
    for name, extra in (("angles", []), ("angles+behaviours", every)):
        stage = make_analysis(load_config(None, [*on, *extra], env={}), "cam0", library)
        assert stage is not None
        start = time.perf_counter()
        for result in stream:
            stage.apply(result)
        out[name] = (time.perf_counter() - start) / frames * 1e3
        if stage.failures:
            raise RuntimeError(f"the stage failed on {stage.failures} frames")
    return out


if __name__ == "__main__":
    import timeit

    small = np.ones((10, 17, 3))
    print(
        f"this machine: one small NumPy add {timeit.timeit(lambda: small + small, number=20000) / 20000 * 1e6:.1f} us"
    )
    for name, ms in bench().items():
        print(f"{name:6s} {ms:.3f} ms a frame (10 people, 20-pose library)")
    kinds = ("numpy", "numba")
    rounds = [{k: stage_bench(kernel=k) for k in kinds} for _ in range(5)]  # the two kinds interleaved
    for kind in kinds:
        for name in rounds[0][kind]:
            ms = sorted(r[kind][name] for r in rounds)
            print(f"stage {name:18s} {kind:5s} {ms[2]:.3f} ms a frame, median of 5 (range {ms[0]:.3f}-{ms[-1]:.3f})")
