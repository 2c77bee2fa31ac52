"""The plausibility gate and the resize method in the estimator: config to PoseEstimator, drops counted
in the stats and /metrics, the crop region never following a dropped pose, and the one log line that
says a single-person model keeps seeing several people.

Poses are OCHuman's annotated people (real) and the beach photo's chimera: a body with the small
face of someone far away (the gate's limb rule), through a scripted decoder and a stand-in engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pytest
from test_plausibility import load_study

from edgepose.app import build_estimator
from edgepose.config import load_config
from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import Decoded, Decoder
from edgepose.decode.plausibility import CROWD_EVENTS, CROWD_WINDOW, Thresholds, jumped
from edgepose.estimation.estimator import CROWD_HINT, PoseEstimator, apply_gate, gate_of
from edgepose.estimation.preprocess import Region, full_region
from edgepose.estimation.resize import METHODS
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine, TensorSpec
from edgepose.keypoints import KP
from edgepose.pose import Pose, pose_from_keypoints
from edgepose.service.health_http import Probe, render_metrics
from edgepose.stats import RunStats

ON = DecoderConfig(plausibility=True)
HINT_START = CROWD_HINT.split("%s")[1][:40]  # " is a single-person model and keeps seei"


class StandIn(InferenceEngine):
    input = TensorSpec("input", 0, (1, 192, 192, 3), np.dtype(np.uint8))
    outputs = ()

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        return []


class Scripted(Decoder):
    """Returns the next scripted frame's poses (and anchor), whatever the outputs."""

    format = "scripted"

    def __init__(self, frames: Iterable[Decoded], multi_person: bool = False) -> None:
        self.frames = iter(frames)
        self.multi_person = multi_person

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        return self.decode_frame(outputs, region).poses

    def decode_frame(self, outputs: Sequence[np.ndarray], region: Region) -> Decoded:
        return next(self.frames)


@pytest.fixture(scope="module")
def people(shared: Path) -> np.ndarray:
    return load_study().annotated_people(shared / "keypoints" / "ochuman" / "test_ochuman.json")


def as_pose(keypoints: np.ndarray, score: float = 0.8) -> Pose:
    kp = keypoints.astype(np.float32).copy()
    kp[:, 2] = np.where(kp[:, 2] > 0, 0.9, 0.0)
    return pose_from_keypoints(kp, score, 0.2)


def chimera_of(person: np.ndarray, offset: Sequence[float] = (300, -900)) -> np.ndarray:
    """The beach photo: this body, and the small face of someone at the horizon (``offset`` away)."""
    pose = person.copy()
    face = [KP[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    head = pose[face, :2].mean(axis=0)
    pose[face, :2] = (pose[face, :2] - head) * 0.2 + head + np.asarray(offset)
    return pose


def frame_for(poses: Sequence[Pose]) -> Frame:
    """A black frame holding every pose's box (the scripted decoder ignores the pixels)."""
    size = int(max(max(p.box[2], p.box[3]) for p in poses) + 50)
    return Frame(np.zeros((size, size, 3), np.uint8), 0, 0.0, 0.0)


def estimator_for(
    frames: Sequence[Decoded], config: DecoderConfig = ON, multi: bool = False, **kwargs
) -> PoseEstimator:
    """Bilinear: the cheapest cut, the pixels do not matter here."""
    return PoseEstimator(StandIn(), config, decoder=Scripted(frames, multi), resize="bilinear", **kwargs)


def run(estimator: PoseEstimator, frames: Sequence[Frame], continuous: bool = True) -> list[tuple[Pose, ...]]:
    return [estimator.estimate(f, continuous).poses for f in frames]


def test_off_by_default_and_thresholds_from_the_config() -> None:
    assert DecoderConfig().plausibility is False and gate_of(DecoderConfig()) is None
    config = DecoderConfig(
        plausibility=True,
        plausibility_limb=2.5,
        plausibility_symmetry=1.5,
        plausibility_span=2.2,
        min_keypoint_score=0.3,
    )
    assert gate_of(config) == Thresholds(limb=2.5, symmetry=1.5, span=2.2, min_score=0.3)


def test_the_gate_drops_the_chimera_and_keeps_the_real_person(people: np.ndarray) -> None:
    real, chimera = as_pose(people[1], 0.9), as_pose(chimera_of(people[0]), 0.3)
    stats = RunStats()
    frames = [Decoded([chimera, real])] * 2
    gated = estimator_for(frames, multi=True, stats=stats)
    assert run(gated, [frame_for([real, chimera])]) == [(real,)]
    assert stats.implausible == 1 and stats.snapshot(1.0)["implausible"] == 1
    assert "edgepose_poses_implausible_total 1" in render_metrics(Probe("running", True, (), stats.snapshot(1.0)))
    off = estimator_for(frames, DecoderConfig(), multi=True, stats=RunStats())
    assert run(off, [frame_for([real, chimera])]) == [(real, chimera)]  # sorted best first, both kept
    assert off.stats is not None and off.stats.implausible == 0


def test_the_crop_region_does_not_follow_a_dropped_pose(people: np.ndarray) -> None:
    real, chimera = as_pose(people[1]), as_pose(chimera_of(people[1], [0, -300]))
    frame = Frame(np.zeros((2000, 2000, 3), np.uint8), 0, 0.0, 0.0)  # room for a crop around either
    whole = full_region(frame.width, frame.height, 192, 192)
    for config, pose, follows in ((ON, real, True), (ON, chimera, False), (DecoderConfig(), chimera, True)):
        estimator = estimator_for([Decoded([pose])], config)
        estimator.estimate(frame, continuous=True)
        assert (estimator.region_for(frame, continuous=True) != whole) is follows, (config.plausibility, follows)


def test_an_implausible_anchor_under_the_pose_threshold_is_not_followed_nor_counted(people: np.ndarray) -> None:
    """MoveNet reports nothing under min_pose_score but follows its pose: the gate checks that one too."""
    faint = as_pose(chimera_of(people[2]), 0.1)
    frame = frame_for([faint])
    stats = RunStats()
    estimator = estimator_for([Decoded([], anchor=faint)], stats=stats)
    assert estimator.estimate(frame, continuous=True).poses == ()
    assert estimator.region_for(frame, continuous=True) == full_region(frame.width, frame.height, 192, 192)
    assert stats.implausible == 0  # never reported, so not a dropped pose
    gated = apply_gate(Decoded([], anchor=faint), [], gate_of(ON))
    assert gated.follow_dropped and gated.follow == Decoded([]) and gated.dropped == 0


def hints(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if HINT_START in r.getMessage()]


def test_a_single_person_model_that_keeps_dropping_says_so_once(
    people: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    real, chimera = as_pose(people[1]), as_pose(chimera_of(people[1]))
    frame = frame_for([real, chimera])
    # One chimera in five frames (20%): the hint comes with the CROWD_EVENTS-th, once.
    script = [Decoded([chimera if i % 5 == 0 else real]) for i in range(3 * CROWD_WINDOW)]
    estimator = estimator_for(script, model_name="movenet_lightning")
    caplog.set_level(logging.WARNING, "edgepose.estimation.estimator")
    run(estimator, [frame] * (5 * (CROWD_EVENTS - 1)))  # 19 chimeras
    assert hints(caplog) == []
    run(estimator, [frame])  # the 20th
    (line,) = hints(caplog)
    assert line.startswith("movenet_lightning is a single-person model") and "MoveNet MultiPose or PoseNet" in line
    run(estimator, [frame] * (len(script) - 5 * (CROWD_EVENTS - 1) - 1))  # the rest: said once
    assert len(hints(caplog)) == 1


def test_rare_drops_and_multi_person_models_say_nothing(people: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    real, chimera = as_pose(people[1]), as_pose(chimera_of(people[1]))
    frame = frame_for([real, chimera])
    caplog.set_level(logging.WARNING, "edgepose.estimation.estimator")
    rare = [Decoded([chimera if i % 10 == 0 else real]) for i in range(300)]  # 10%
    run(estimator_for(rare), [frame] * 300)
    crowd = [Decoded([real, chimera])] * 300
    run(estimator_for(crowd, multi=True), [frame] * 300)  # a multi-person model is right to see several
    assert hints(caplog) == []


def shifted(pose: np.ndarray, dx: float) -> Pose:
    moved = pose.copy()
    moved[:, 0] += dx
    return as_pose(moved)


def test_a_followed_person_jumping_between_two_people_says_so_once(
    people: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    """Gate off: the crop region's own behaviour. Two people far apart, the model picking one or the other."""
    left = as_pose(people[1])
    height = left.box[3] - left.box[1]
    right = shifted(people[1], 1.3 * height)
    assert jumped(left.box, right.box) and not jumped(left.box, left.box)
    frame = frame_for([left, right])
    caplog.set_level(logging.WARNING, "edgepose.estimation.estimator")
    switching = [Decoded([left if i % 4 < 2 else right]) for i in range(200)]  # a jump every other frame
    run(estimator_for(switching, DecoderConfig()), [frame] * 200, continuous=False)
    assert hints(caplog) == []  # unrelated images: nothing is followed, nothing jumps
    run(estimator_for(switching, DecoderConfig()), [frame] * 200)
    assert len(hints(caplog)) == 1


def test_a_person_walking_is_no_jump(people: np.ndarray, caplog: pytest.LogCaptureFixture) -> None:
    walk = [Decoded([shifted(people[1], 12.0 * i)]) for i in range(200)]  # 12 px a frame
    head_then_body = as_pose(np.where(np.arange(17)[:, None] < 5, people[1], 0.0))
    assert not jumped(head_then_body.box, as_pose(people[1]).box)  # seen by the head, then whole
    caplog.set_level(logging.WARNING, "edgepose.estimation.estimator")
    run(estimator_for(walk, DecoderConfig()), [frame_for(walk[-1].poses)] * 200)
    assert hints(caplog) == []


def test_the_config_reaches_the_estimator(movenet_path: Path, squat_rgb: np.ndarray) -> None:
    overrides = [
        f"model.name={movenet_path}",
        "model.resize=antialiased_fast",
        "decoder.plausibility=on",
        "decoder.plausibility_limb=2.5",
    ]
    stats = RunStats()
    loaded = build_estimator(load_config(None, overrides, env={}), stats=stats)
    estimator = loaded.estimator
    assert estimator.resize is METHODS["antialiased_fast"] and estimator.stats is stats
    assert estimator.setup.gate is not None and estimator.setup.gate.limb == 2.5
    default = build_estimator(load_config(None, [f"model.name={movenet_path}"], env={})).estimator
    assert default.resize is METHODS["bilinear"] and default.setup.gate is None
    # A real person passes: the same pose with the gate on as off.
    frame = Frame(squat_rgb, 0, 0.0, 0.0)
    on = PoseEstimator(default.engine, ON).estimate(frame).poses
    off = PoseEstimator(default.engine, DecoderConfig()).estimate(frame).poses
    assert len(on) == 1 and np.array_equal(on[0].keypoints, off[0].keypoints)
    # A reload that turns the gate on builds a setup with it.
    assert default.setup_for(ON).gate == Thresholds()
