"""Fall detection on closed-form keypoint trajectories (a fall fires once; walking, sitting down,
bending, squatting and leaving the frame never fire), its cooldown and excluded areas, and a
synthetic fall made from squat.bmp through the real model.

``python -m tests.test_behaviour_falls`` prints the table of cases x thresholds in docs/behaviours.md.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from edgepose.analysis.behaviours.falls import FallDetector, zone_exclusion
from edgepose.analysis.behaviours.geometry import body_lean, torso_lean
from edgepose.analysis.behaviours.settings import FallSettings
from edgepose.keypoints import KP
from tests.builders.figures import (
    FLOOR,
    FPS,
    TOPPLE,
    H,
    ease,
    fall_and_get_up,
    fall_forward,
    figure,
    pendulum,
    planted,
    stand,
    toppled,
    walking,
)

# A trajectory: keypoints as a function of time, for `seconds` seconds (None: the person is gone).
Trajectory = tuple[float, Callable[[float], np.ndarray | None]]


def collapse(t: float) -> np.ndarray:
    """Knees give way (the hips drop 0.3 H in 0.5 s), then the body topples sideways onto the floor."""
    if t < 2.0:
        return stand(t)
    if t < 2.5:
        u = ease((t - 2.0) / 0.5)
        return figure((640.0, FLOOR - 0.5 * H + 0.3 * H * u), lean=20 * u, thigh=80 * u, shin=-110 * u)
    u = ease((t - 2.5) / 0.6)
    hip_y = FLOOR - 0.2 * H * (1 - u) - 0.0 * u
    return figure((640.0 - 0.1 * H * u, hip_y), lean=20 + 70 * u, thigh=80 * (1 - u), shin=-110 * (1 - u))


def sitting_down(t: float) -> np.ndarray:
    """Onto a chair in 1 s: the thighs come up to horizontal (the hips drop 0.21 H), the torso leans
    forward up to 40 degrees on the way and settles at 10; sits 3 s; stands up the same way."""

    def sit(u: float) -> np.ndarray:
        u = ease(u)
        lean = 10 * u + 30 * math.sin(math.pi * u)
        return planted(640.0, lean, thigh=lean + 80 * u, shin=-90 * u)

    if t < 6.0:
        return sit((t - 2.0) / 1.0)
    return sit(1.0 - (t - 6.0) / 1.2)


def sitting_on_the_floor(t: float) -> np.ndarray:
    """Down to the floor in 1.5 s (the torso leaning up to 30 degrees), legs out in front, sits on."""
    u = ease((t - 2.0) / 1.5)
    lean = 10 * u + 20 * math.sin(math.pi * u)
    return figure((640.0, FLOOR - 0.5 * H + 0.45 * H * u), lean=lean, thigh=90 * u, shin=0)


def bending(t: float) -> np.ndarray:
    """Picking something up: in 0.7 s the torso tips to horizontal and the knees bend (thighs 50
    degrees forward, shins 30 back: the hips drop 0.12 H), held 3 s, then back up."""

    def bend(u: float) -> np.ndarray:
        u = ease(u)
        lean = 90 * u
        return planted(640.0, lean, thigh=lean + 50 * u, shin=-80 * u)

    if t < 5.7:
        return bend((t - 2.0) / 0.7)
    return bend(1.0 - (t - 5.7) / 0.8)


def squat_and_reach(t: float) -> np.ndarray:
    """A deep squat (hips below the knees: they drop 0.32 H in 0.8 s) with the torso tipped to 70 degrees,
    reaching for the floor, held 3 s: it starts a fall (drop and lean) but never lies."""

    def squat(u: float) -> np.ndarray:
        u = ease(u)
        lean = 70 * u
        return planted(640.0, lean, thigh=lean + 95 * u, shin=-130 * u)

    if t < 5.8:
        return squat((t - 2.0) / 0.8)
    return squat(1.0 - (t - 5.8) / 0.8)


def sliding_down(t: float) -> np.ndarray:
    """Slides down a wall over 3 s to sitting, then slumps to lying over 1 s: too slow for the default window."""
    if t < 5.0:
        u = ease((t - 2.0) / 3.0)
        return figure((640.0, FLOOR - 0.5 * H + 0.45 * H * u), lean=10 * u, thigh=90 * u, shin=0)
    u = ease((t - 5.0) / 1.5)
    return figure((640.0 - 0.2 * H * u, FLOOR - 0.05 * H - 0.0 * u), lean=10 + 80 * u, thigh=90 * (1 - u), shin=0)


def leaving_sideways(t: float) -> np.ndarray | None:
    """Walks out of the right edge of the frame (keypoints past the edge score 0), then is gone."""
    kp = walking(t + 8.5)
    return kp if (kp[:, 2] > 0).any() else None


def leaving_towards_the_camera(t: float) -> np.ndarray:
    """Walks towards a camera up high: grows and moves down until the legs and hips leave the bottom edge."""
    grow = 1.0 + 0.25 * t
    height = H * grow
    hip = (640.0, FLOOR - 0.5 * H + 90.0 * t)
    return figure(hip, lean=5.0, thigh=15 * math.sin(2 * math.pi * t), height=height)


def gone_mid_fall(t: float) -> np.ndarray | None:
    """Starts to fall and the track ends (out of view, or the tracker lost them) at 60 degrees."""
    return fall_forward(t) if t < 2.0 + 0.8 * 0.6 else None


def lying_on_the_bed(t: float) -> np.ndarray:
    """A fall's trajectory whose end is inside the excluded zone (the bed, x > 500)."""
    return fall_forward(t)


# (name, seconds, trajectory, how many fall events); recovered events are counted separately.
CASES: list[tuple[str, float, Callable[[float], np.ndarray | None], int]] = [
    ("falls forward", 10.0, fall_forward, 1),
    ("falls backwards", 10.0, lambda t: fall_forward(t, sign=-1.0), 1),
    ("falls and gets up", 12.0, fall_and_get_up, 1),
    ("knees give way, then topples", 10.0, collapse, 1),
    ("slides down a wall over 3 s, slumps", 10.0, sliding_down, 0),  # a miss: too slow for window
    ("walks across", 10.0, walking, 0),
    ("sits down on a chair, stands up", 10.0, sitting_down, 0),
    ("sits down on the floor", 10.0, sitting_on_the_floor, 0),
    ("bends to pick something up", 8.0, bending, 0),
    ("deep squat, reaching the floor", 8.0, squat_and_reach, 0),
    ("walks out of the frame sideways", 6.0, leaving_sideways, 0),
    ("walks out towards the camera", 5.0, leaving_towards_the_camera, 0),
    ("track ends mid-fall", 10.0, gone_mid_fall, 0),
]


def frames(seconds: float, fps: float = FPS) -> Iterator[float]:
    for i in range(int(seconds * fps) + 1):
        yield i / fps


def run(
    trajectory: Callable[[float], np.ndarray | None],
    seconds: float,
    detector: FallDetector | None = None,
    track: int = 1,
) -> list:
    detector = detector or FallDetector()
    events = []
    for t in frames(seconds):
        kp = trajectory(t)
        if kp is None:
            detector.end(track)
            continue
        events += detector.update(t, track, kp)
    return events


def test_the_figure_is_what_it_says() -> None:
    """The builder's own closed forms: standing is 0.94 H tall and upright, a plank on the floor lies."""
    kp = stand(0.0)
    assert kp[:, 1].max() - kp[:, 1].min() == pytest.approx(0.94 * H)
    np.testing.assert_allclose(planted(640.0, 0, 0, 0), kp)  # standing, planted on the floor
    squat = squat_and_reach(4.0)
    assert squat[[KP["left_ankle"], KP["right_ankle"]], 1].mean() == pytest.approx(FLOOR)
    assert FLOOR - squat[[KP["left_hip"], KP["right_hip"]], 1].mean() == pytest.approx(0.183 * H, abs=0.001 * H)
    assert body_lean(squat, 0.3) < 35.0
    assert torso_lean(kp, 0.3) == pytest.approx(0.0) and body_lean(kp, 0.3) == pytest.approx(0.0)
    lying = pendulum(640.0, 90.0)
    assert torso_lean(lying, 0.3) == pytest.approx(90.0) and body_lean(lying, 0.3) == pytest.approx(90.0)
    assert lying[[KP["left_hip"], KP["right_hip"]], 1].mean() == pytest.approx(FLOOR)
    assert torso_lean(figure((640, 400), lean=-30.0), 0.3) == pytest.approx(30.0)  # either way


@pytest.mark.parametrize(("name", "seconds", "trajectory", "falls"), CASES, ids=[c[0] for c in CASES])
def test_case(name: str, seconds: float, trajectory, falls: int) -> None:
    events = run(trajectory, seconds)
    assert [e.kind for e in events if e.kind == "fall"] == ["fall"] * falls, (name, events)


def test_a_fall_fires_once_then_recovers() -> None:
    events = run(fall_and_get_up, 12.0)
    assert [e.kind for e in events] == ["fall", "recovered"]
    fall, recovered = events
    s = FallSettings()
    # Lying from when the lean passes lying_lean while toppling (ease(u) = lean / 90) and the hips
    # have dropped by `drop` of the 0.94 H standing height (0.5 H (1 - cos lean)), for down_for.
    lean = max(s.lying_lean, math.degrees(math.acos(1 - 2 * 0.94 * s.drop)))
    lying = 2.0 + 0.8 * math.acos(1 - 2 * lean / 90) / math.pi
    assert lying + s.down_for <= fall.ts <= lying + s.down_for + 1.01 / FPS
    # Getting up from 6.8 s: upright once the lean is back within upright_lean, for recover_for.
    upright = 6.8 + 1.5 * (1 - math.acos(1 - 2 * s.upright_lean / 90) / math.pi)
    assert upright + s.recover_for <= recovered.ts <= upright + s.recover_for + 1.01 / FPS
    assert fall.data["drop"] >= FallSettings().drop and fall.data["lean"] >= FallSettings().lying_lean


def test_lying_on_after_the_fall_fires_nothing_more() -> None:
    events = run(fall_forward, 60.0)
    assert [e.kind for e in events] == ["fall"]


def repeat(trajectory: Callable[[float], np.ndarray | None], period: float) -> Callable[[float], np.ndarray | None]:
    return lambda t: trajectory(t % period)


def test_cooldown() -> None:
    """A fall every 20 s: with a 30 s cooldown the second is not reported, the third is."""
    events = run(repeat(fall_and_get_up, 20.0), 60.0)
    falls = [e.ts for e in events if e.kind == "fall"]
    assert len(falls) == 2 and falls[1] - falls[0] == pytest.approx(40.0, abs=0.1), events
    events = run(repeat(fall_and_get_up, 20.0), 60.0, FallDetector(FallSettings(cooldown=5.0)))
    assert len([e for e in events if e.kind == "fall"]) == 3


def test_excluded_areas() -> None:
    """Lying down onto the bed (the zone x > 500) is not a fall; the same fall elsewhere is."""

    def on_the_bed(x: float, y: float) -> bool:
        return x > 500

    assert run(lying_on_the_bed, 10.0, FallDetector(excluded=on_the_bed)) == []
    assert len(run(lying_on_the_bed, 10.0, FallDetector(excluded=lambda x, y: x < 100))) == 1


def test_zones_exclude_by_their_polygons() -> None:
    """A bed drawn as a zone (normalized corners) on the 1280x720 frame: the fall ends on it, and is not one."""
    bed = np.array([[0.5, 0.8], [0.9, 0.8], [0.9, 1.0], [0.5, 1.0]])  # x 640..1152, y 576..720 px
    assert run(lying_on_the_bed, 10.0, FallDetector(excluded=zone_exclusion([bed], 1280, 720))) == []
    elsewhere = np.array([[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]])
    assert (
        len(run(lying_on_the_bed, 10.0, FallDetector(excluded=zone_exclusion([elsewhere, bed[::-1] * 0.1], 1280, 720))))
        == 1
    )
    assert zone_exclusion([bed], 1280, 720)(640.0, 576.0)  # on the corner: inside, as zones count it


def test_tracks_are_independent() -> None:
    detector = FallDetector()
    events = []
    for t in frames(10.0):
        events += detector.update(t, 1, walking(t))
        events += detector.update(t, 2, fall_forward(t))
    assert [(e.kind, e.track) for e in events] == [("fall", 2)]
    assert detector.state(2) == "down" and detector.state(1) == "upright"


def test_a_gap_in_the_samples_forgets_the_drop() -> None:
    """The person is not seen while falling (occluded): a fall must be seen happening, so nothing fires."""
    hidden = lambda t: None if 1.9 <= t <= 3.2 else fall_forward(t)  # noqa: E731
    detector = FallDetector()
    events = []
    for t in frames(10.0):
        kp = hidden(t)
        if kp is not None:  # skipped frames, not an ended track
            events += detector.update(t, 1, kp)
    assert events == []


def test_invisible_hips_change_nothing() -> None:
    detector = FallDetector()
    kp = stand(0.0)
    kp[[KP["left_hip"], KP["right_hip"]], 2] = 0.1
    assert detector.update(0.0, 1, kp) == [] and detector.state(1) == "upright"


# --- the thresholds' effect: a table of cases x settings -----------------------------------------

VARIANTS: list[tuple[str, FallSettings]] = [
    ("defaults", FallSettings()),
    ("drop 0.15", FallSettings(drop=0.15)),
    ("drop 0.40", FallSettings(drop=0.40)),
    ("falling_lean 30", FallSettings(falling_lean=30.0)),
    ("falling_lean 70", FallSettings(falling_lean=70.0)),
    ("lying_lean 45", FallSettings(lying_lean=45.0)),
    ("lying_lean 80", FallSettings(lying_lean=80.0)),
    ("down_for 5 s", FallSettings(down_for=5.0)),
    ("window 0.3 s", FallSettings(window=0.3)),
    ("window 4 s", FallSettings(window=4.0)),
    ("lying_lean 30", FallSettings(lying_lean=30.0, upright_lean=20.0)),
    ("drop 0.15, falling_lean 30", FallSettings(drop=0.15, falling_lean=30.0)),
]


def table() -> list[list[int]]:
    """Fall events per case (rows) and settings variant (columns); each trajectory is built once."""
    out = []
    for _, seconds, trajectory, _ in CASES:
        samples = [(t, trajectory(t)) for t in frames(seconds)]
        row = []
        for _, settings in VARIANTS:
            replay = dict(samples)
            row.append(sum(e.kind == "fall" for e in run(replay.__getitem__, seconds, FallDetector(settings))))
        out.append(row)
    return out


def markdown_table() -> str:
    rows = table()
    head = "| case | " + " | ".join(v for v, _ in VARIANTS) + " |"
    rule = "|---|" + "---|" * len(VARIANTS)
    body = [f"| {c[0]} | " + " | ".join(str(n) for n in row) + " |" for c, row in zip(CASES, rows, strict=True)]
    return "\n".join([head, rule, *body])


# The table in docs/behaviours.md: fall events per case for each settings variant above.
EXPECTED_TABLE = [
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # falls forward
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # falls backwards
    [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1],  # falls and gets up: lies 4 s, under a 5 s down_for
    [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1],  # knees give way: the drop is spread over more than 0.3 s
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0],  # slides down slowly: only a 4 s window sees it
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # walks across
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # sits on a chair
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # sits on the floor
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # bends down
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],  # deep squat: a 30 degree lying_lean takes it for lying
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # out sideways
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # out towards the camera
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # track ends mid-fall
]


def test_the_thresholds_table() -> None:
    """The documented table is what the detector does; its first column is each case's expected outcome."""
    got = table()
    assert [row[0] for row in got] == [c[3] for c in CASES]
    assert got == EXPECTED_TABLE, markdown_table()


# --- a synthetic fall through the real model ---------------------------------------------------------


def test_a_fall_made_from_squat_bmp_through_the_real_model_fires_once(movenet_estimator, squat_rgb) -> None:
    from edgepose.frame import Frame

    detector = FallDetector()
    events, seen = [], {}
    for i, angle in enumerate(TOPPLE):
        if angle not in seen:  # the same image gives the same keypoints: run the model once per angle
            poses = movenet_estimator.estimate(Frame(toppled(squat_rgb, angle), i, 0.0, 0.0)).poses
            assert poses, f"no pose at {angle} degrees"
            seen[angle] = poses[0].keypoints
        events += detector.update(i / 10.0, 1, seen[angle])
    assert [e.kind for e in events] == ["fall"], events
    # The turn starts at 1.0 s and ends at 1.5 s; the fire is down_for (2 s) after lying began.
    assert 1.0 + 2.0 <= events[0].ts <= 1.6 + 2.0 + 0.01, events


def test_the_photographed_squat_itself_never_falls(movenet_estimator, squat_rgb) -> None:
    from edgepose.frame import Frame

    kp = movenet_estimator.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses[0].keypoints
    detector = FallDetector()
    assert [e for i in range(50) for e in detector.update(i / 10.0, 1, kp)] == []


if __name__ == "__main__":
    print(markdown_table())
    print()
    print("settings:", dataclasses.asdict(FallSettings()))


@pytest.mark.slow
def test_the_walking_crowd_video_gives_no_fall(walking_video) -> None:
    """PoseNet and the keypoint tracker over the real crowd video (6 s of it): many people walking, no fall."""
    from edgepose.app import build_estimator
    from edgepose.config import load_config
    from edgepose.sources.video import VideoFileSource
    from edgepose.tracking import make_tracker

    config = load_config(None, ["model.name=posenet_mobilenet_v1_075_481x641", "model.threads=2"])
    loaded = build_estimator(config)
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    source = VideoFileSource(walking_video)
    source.open()
    detector = FallDetector()
    events, samples, started = [], 0, set()
    try:
        for i in range(150):
            frame = source.read()
            if frame is None:
                break
            t = i / 25.0  # the video's own clock
            result = tracking(dataclasses.replace(loaded.estimator.estimate(frame), mono=t))
            for pose in result.poses:
                events += detector.update(t, pose.id, pose.keypoints)
                samples += 1
                if detector.state(pose.id) != "upright":
                    started.add(pose.id)
    finally:
        source.close()
    assert samples > 150 * 5, "the crowd is seen"
    assert events == [], (events, started)
