"""The tracker with One Euro smoothing stepped over all tracks at once, against its old per-track
definition, bit for bit, on real PoseNet poses of the walking crowd and on random crowds."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.pose import Pose, box_from_keypoints
from edgepose.sources.video import VideoFileSource
from edgepose.tracking import similarity, tracker
from edgepose.tracking.similarity import FEW_PAIRS, SIGMAS, oks_few, oks_matrix
from edgepose.tracking.smoothing import OneEuroFilter, OneEuroParams, filter_all
from edgepose.tracking.tracker import PoseTracker, Track, box_similarity, greedy_match, keypoint_similarity


class PerTrackTracker(PoseTracker):
    """The old definition: each pose's track filtered and boxed on its own."""

    def update(self, poses: Sequence[Pose], t: float, width: int, height: int) -> list[Pose]:
        self.expire(t)
        sim = self.similarity(poses, self.tracks).reshape(len(poses), len(self.tracks))
        assigned = {p: self.tracks[k] for p, k in greedy_match(sim, self.min_similarity)}
        out: list[Pose] = []
        for i, pose in enumerate(poses):
            track = assigned.get(i)
            if track is None:
                if len(self.tracks) >= self.max_tracks and not self._evict_stalest(t, assigned.values()):
                    self.counts.untracked += 1
                    out.append(pose)
                    continue
                track = Track(self._next_id, pose.keypoints, pose.box, t, self._new_smoother())
                self._next_id += 1
                self.counts.started += 1
                self.tracks.append(track)
            track.keypoints, track.box, track.last_seen = pose.keypoints, pose.box, t
            out.append(self._one(pose, track, t, width, height))
        return out

    def _one(self, pose: Pose, track: Track, t: float, width: int, height: int) -> Pose:
        if track.smoother is None:
            return dataclasses.replace(pose, id=track.id)
        scale = np.array([max(width, 1), max(height, 1)], np.float64)
        xy = track.smoother(pose.keypoints[:, :2] / scale, t) * scale
        keypoints = pose.keypoints.copy()
        keypoints[:, :2] = xy
        box = box_from_keypoints(keypoints, self.box_min_score)
        return dataclasses.replace(pose, keypoints=keypoints, box=box, id=track.id)


def assert_same(ours: list[Pose], theirs: list[Pose]) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.id == b.id and a.score == b.score and a.box == b.box
        assert a.keypoints.dtype == b.keypoints.dtype
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def pair(kind: str, smoothing: OneEuroParams | None, max_tracks: int = 18) -> tuple[PoseTracker, PoseTracker]:
    sim = keypoint_similarity(0.3, 4) if kind == "keypoint" else box_similarity()
    return tuple(
        cls(sim, 0.2, max_tracks=max_tracks, max_age=0.3, smoothing=smoothing)  # type: ignore[return-value]
        for cls in (PoseTracker, PerTrackTracker)
    )


@pytest.fixture(scope="module")
def crowd(posenet_path: Path, walking_video: Path) -> list[tuple[list[Pose], float]]:
    """PoseNet's poses on 20 walking-crowd frames, with their capture times (25 fps)."""
    engine = LiteRtEngine(read_model(posenet_path), threads=2)
    estimator = PoseEstimator(engine, DecoderConfig(), model_options=engine.model.decoder_options)
    source = VideoFileSource(walking_video)
    source.open()
    try:
        frames = [source.read() for _ in range(20)]
    finally:
        source.close()
    out = []
    for i, frame in enumerate(frames):
        assert frame is not None
        result = estimator.estimate(Frame(frame.image, i, 0.0, i / 25), continuous=True)
        out.append((list(result.poses), i / 25))
    return out


@pytest.mark.parametrize("kind", ["keypoint", "bbox"])
@pytest.mark.parametrize("smoothing", [OneEuroParams(), None])
def test_real_crowd_tracks_as_before(crowd, kind, smoothing) -> None:
    ours, theirs = pair(kind, smoothing)
    people = 0
    for poses, t in crowd:
        a, b = ours.update(poses, t, 1280, 720), theirs.update(poses, t, 1280, 720)
        assert_same(a, b)
        people += len(a)
    assert people >= 20 * 5
    assert ours.counts == theirs.counts


def random_crowd(rng: np.random.Generator, frames: int) -> list[tuple[list[Pose], float]]:
    """People drifting, coming and going, frames with repeated or older timestamps and no one."""
    centres = rng.uniform(0, 600, (25, 2))
    out, t = [], 0.0
    for _ in range(frames):
        t += float(rng.choice([0.0, -0.01, 0.04, 0.04, 0.2, 0.5]))
        centres += rng.normal(0, 8, centres.shape)
        poses = []
        for c in centres[rng.random(len(centres)) < 0.6]:
            kp = np.empty((17, 3), np.float32)
            kp[:, :2] = c + rng.normal(0, 25, (17, 2))
            kp[:, 2] = rng.random(17)
            poses.append(Pose(kp, float(rng.random()), box_from_keypoints(kp, 0.2)))
        out.append((poses, t))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_crowds_track_as_before(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ours, theirs = pair("keypoint" if seed % 2 else "bbox", OneEuroParams(beta=float(rng.uniform(0, 500))), 12)
    for poses, t in random_crowd(rng, 40):
        assert_same(ours.update(poses, t, 640, 480), theirs.update(poses, t, 640, 480))
    assert ours.counts == theirs.counts and ours.counts.untracked > 0


def test_filter_all_equals_each_filter_on_its_own() -> None:
    rng = np.random.default_rng(11)
    ours = [OneEuroFilter() for _ in range(7)]
    theirs = [OneEuroFilter() for _ in range(7)]
    for step in range(30):
        t = step * 0.04
        live = [i for i in range(7) if rng.random() < 0.7]  # each filter sampled at its own times
        xs = rng.normal(0.5, 0.1, (len(live), 17, 2))
        got = filter_all([ours[i] for i in live], xs, t - 0.04 * (step % 5 == 0))  # some with no time passed
        for k, i in enumerate(live):
            np.testing.assert_array_equal(got[k], theirs[i](xs[k], t - 0.04 * (step % 5 == 0)))
    mixed = [OneEuroFilter(OneEuroParams(beta=0.0)), OneEuroFilter()]  # different parameters: one by one
    alone = [OneEuroFilter(OneEuroParams(beta=0.0)), OneEuroFilter()]
    for t in (0.0, 0.1):
        xs = rng.normal(size=(2, 3))
        np.testing.assert_array_equal(filter_all(mixed, xs, t), [f(x, t) for f, x in zip(alone, xs, strict=True)])


def oks_matrix_before(poses, tracks, threshold=0.3, min_keypoints=4, sigmas=SIGMAS) -> np.ndarray:
    """The previous vectorized form, kept to hold the leaner one to the same bits."""
    p, t = len(poses), len(tracks)
    poses, tracks = np.asarray(poses, np.float64), np.asarray(tracks, np.float64)
    seen_t = tracks[:, :, 2] >= threshold
    both = (poses[:, None, :, 2] >= threshold) & seen_t[None]
    n = both.sum(axis=2)
    xs = np.where(seen_t, tracks[:, :, 0], np.inf), np.where(seen_t, tracks[:, :, 0], -np.inf)
    ys = np.where(seen_t, tracks[:, :, 1], np.inf), np.where(seen_t, tracks[:, :, 1], -np.inf)
    w, h = xs[1].max(axis=1) - xs[0].min(axis=1), ys[1].max(axis=1) - ys[0].min(axis=1)
    area = np.where(seen_t.any(axis=1), w * h, 0.0) + 1e-6
    d2 = ((poses[:, None, :, :2] - tracks[None, :, :, :2]) ** 2).sum(axis=3)
    e = np.exp(-d2 / (2.0 * area[None, :, None] * ((2.0 * sigmas) ** 2)[None, None, :]))
    total = np.where(both, e, 0.0).sum(axis=2)
    out = np.divide(total, n, out=np.zeros((p, t), np.float64), where=n > 0)
    out[(n < min_keypoints) | (n == 0)] = 0.0
    return out


@pytest.mark.parametrize("seed", range(4))
def test_oks_matrix_equals_its_previous_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(60):
        poses = rng.uniform(0, 1000, (int(rng.integers(1, 15)), 17, 3))
        tracks = rng.uniform(0, 1000, (int(rng.integers(1, 15)), 17, 3))
        poses[..., 2], tracks[..., 2] = rng.random(poses.shape[:2]), rng.random(tracks.shape[:2])
        tracks[0, :, 2] = 0.0 if trial % 4 == 0 else tracks[0, :, 2]  # nothing confident: area 0
        tracks[-1] = poses[0] if trial % 5 == 0 else tracks[-1]  # identical: OKS 1
        k = int(rng.integers(0, 6))
        np.testing.assert_array_equal(oks_matrix(poses, tracks, 0.3, k), oks_matrix_before(poses, tracks, 0.3, k))


@pytest.mark.parametrize("seed", range(4))
def test_a_few_pairs_in_python_floats_are_the_matrix_to_1e_12(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(200):
        poses = rng.uniform(0, 1000, (int(rng.integers(1, 4)), 17, 3)).astype(np.float32)
        tracks = rng.uniform(0, 1000, (int(rng.integers(1, 3)), 17, 3)).astype(np.float32)
        poses[..., 2], tracks[..., 2] = rng.random(poses.shape[:2]), rng.random(tracks.shape[:2])
        tracks[0, :, 2] = 0.0 if trial % 4 == 0 else tracks[0, :, 2]  # nothing confident: area 0
        tracks[-1] = poses[0] if trial % 5 == 0 else tracks[-1]  # identical: OKS 1
        tracks[0, :, :2] = poses[-1, :, :2] + rng.normal(0, 3, (17, 2)) if trial % 3 == 0 else tracks[0, :, :2]
        k = int(rng.integers(0, 6))
        want = oks_matrix(poses, tracks, 0.3, k)
        np.testing.assert_allclose(oks_few(list(poses), list(tracks), 0.3, k), want, rtol=1e-12, atol=1e-300)


def test_one_person_against_one_track_skips_the_numpy_pass(monkeypatch) -> None:
    """Single-pose models meet one track a frame: the fixed cost of the vectorized pass is avoidable."""

    def refuse(*_args: object) -> np.ndarray:
        raise AssertionError("oks_matrix for a single pair")

    monkeypatch.setattr(tracker, "oks_matrix", refuse)
    monkeypatch.setattr(similarity, "oks_matrix", refuse)
    kp = np.array([[10 * i, 5 * i, 0.9] for i in range(17)], np.float32)
    pose = Pose(kp, 0.9, box_from_keypoints(kp))
    sim = keypoint_similarity()([pose], [Track(0, kp, pose.box, 0.0)])
    assert sim.shape == (1, 1) and sim[0, 0] == pytest.approx(1.0)
    assert FEW_PAIRS >= 1


@pytest.mark.parametrize("seed", range(3))
def test_greedy_match_orders_a_few_pairs_as_the_argsort_does(seed: int) -> None:
    """Ties included: both orders are stable (flat index ascending among equal values)."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
        sim = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], shape)  # few values: many ties
        order = np.argsort(-sim, axis=None, kind="stable")
        want, used_p, used_t = [], set(), set()
        for flat in order:
            p, t = divmod(int(flat), shape[1])
            if sim[p, t] < 0.3:
                break
            if p not in used_p and t not in used_t:
                want.append((p, t))
                used_p.add(p)
                used_t.add(t)
        assert greedy_match(sim, 0.3) == want


@pytest.mark.parametrize("people", [1, 2, 3])
def test_one_to_three_people_track_as_before(people: int) -> None:
    """Below ``SMALL`` the poses are smoothed one by one: the same results either way."""
    rng = np.random.default_rng(people)
    ours, theirs = pair("keypoint", OneEuroParams())
    for poses, t in random_crowd(rng, 30):
        assert_same(ours.update(poses[:people], t, 640, 480), theirs.update(poses[:people], t, 640, 480))
