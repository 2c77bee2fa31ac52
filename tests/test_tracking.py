"""Trackers against their closed-form behaviour, then ids over synthetic motion (both similarities)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.config.sections import TrackingConfig
from edgepose.pose import Pose, box_from_keypoints
from edgepose.tracking import make_tracker
from edgepose.tracking.similarity import iou, iou_matrix, keypoint_area, oks, oks_matrix
from edgepose.tracking.tracker import PoseTracker, box_similarity, greedy_match, keypoint_similarity


def person(x: float, y: float, scale: float = 100.0, score: float = 0.9, seed: int = 0) -> Pose:
    """A standing figure of height ``2 * scale`` px with its top-left near (x, y)."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = x + rng.uniform(0, scale, 17)
    kp[:, 1] = y + np.linspace(0, 2 * scale, 17)
    kp[:, 2] = score
    return Pose(kp, score, box_from_keypoints(kp))


# --- closed form -----------------------------------------------------------------------------


def test_oks_of_identical_poses_is_one() -> None:
    p = person(10, 20)
    assert oks(p.keypoints, p.keypoints) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("confident", "expected"),
    [
        (3, 0.0),  # fewer than min_keypoints (4) confident in both: no opinion
        (4, 1.0),  # exactly the minimum: identical points give 1
    ],
)
def test_oks_needs_min_keypoints(confident: int, expected: float) -> None:
    p = person(0, 0).keypoints.copy()
    p[confident:, 2] = 0.1  # below the 0.3 threshold
    assert oks(p, p, threshold=0.3, min_keypoints=4) == pytest.approx(expected)


def test_oks_matches_the_formula_and_falls_with_distance() -> None:
    a = person(0, 0).keypoints
    b = a.copy()
    b[:, 0] += 5.0
    area = keypoint_area(a, 0.3)
    sigmas = np.array(
        [
            0.026,
            0.025,
            0.025,
            0.035,
            0.035,
            0.079,
            0.079,
            0.072,
            0.072,
            0.062,
            0.062,
            0.107,
            0.107,
            0.087,
            0.087,
            0.089,
            0.089,
        ]
    )
    expected = np.mean(np.exp(-25.0 / (2 * area * (2 * sigmas) ** 2)))
    assert oks(b, a) == pytest.approx(expected, rel=1e-6)
    far = a.copy()
    far[:, 0] += 50.0
    assert 0.0 < oks(far, a) < oks(b, a) < 1.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),  # disjoint
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges share no area
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),  # half overlap
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),  # empty boxes
    ],
)
def test_iou(a, b, expected) -> None:
    assert iou(a, b) == pytest.approx(expected)


def test_greedy_match_takes_the_best_pairs_and_respects_the_minimum() -> None:
    sim = np.array([[0.9, 0.8], [0.85, 0.1], [0.05, 0.02]])
    # (0,0) first; pose 1 then cannot have track 0 and track 1 is below 0.2; pose 2 is below it too.
    assert greedy_match(sim, 0.2) == [(0, 0)]
    assert greedy_match(sim, 0.05) == [(0, 0), (1, 1)]  # pose 2's best free track is below 0.05
    assert greedy_match(np.zeros((0, 3)), 0.2) == []


# --- ids over time, the same tests for both trackers ----------------------------------------

TRACKERS = {
    "keypoint": lambda **kw: PoseTracker(keypoint_similarity(0.3, 4), 0.2, smoothing=None, **kw),
    "bbox": lambda **kw: PoseTracker(box_similarity(), 0.15, smoothing=None, **kw),
}


@pytest.fixture(params=sorted(TRACKERS))
def new_tracker(request):
    return TRACKERS[request.param]


def test_two_walking_people_keep_their_ids(new_tracker) -> None:
    tracker = new_tracker()
    ids = []
    for i in range(30):  # 25 fps, 3 px a frame each, opposite directions
        a, b = person(100 + 3 * i, 50, seed=1), person(500 - 3 * i, 60, seed=2)
        out = tracker.update([a, b], t=i / 25, width=640, height=480)
        ids.append(tuple(p.id for p in out))
    assert set(ids) == {(0, 1)}


def test_track_survives_a_short_gap_and_expires_after_max_age(new_tracker) -> None:
    tracker = new_tracker(max_age=1.0)
    p = person(100, 100)
    assert tracker.update([p], 0.0, 640, 480)[0].id == 0
    assert tracker.update([], 0.5, 640, 480) == []
    assert tracker.update([p], 0.9, 640, 480)[0].id == 0  # unseen 0.9 s < max age: same person
    tracker.update([], 1.5, 640, 480)
    assert len(tracker.tracks) == 1
    tracker.update([], 1.91, 640, 480)  # unseen 1.01 s: the track ends
    assert tracker.tracks == [] and tracker.counts.ended == 1
    assert tracker.update([p], 2.0, 640, 480)[0].id == 1  # a new id, never a reused one


def test_max_tracks_leaves_extra_people_untracked_and_counted(new_tracker) -> None:
    tracker = new_tracker(max_tracks=2)
    people = [person(10 + 200 * k, 10, seed=k) for k in range(3)]
    out = tracker.update(people, 0.0, 640, 480)
    assert [p.id for p in out] == [0, 1, None]
    assert tracker.counts.untracked == 1 and len(tracker.tracks) == 2


def test_when_full_the_stalest_track_makes_room(new_tracker) -> None:
    tracker = new_tracker(max_tracks=2)
    a, b, c = (person(10 + 200 * k, 10, seed=k) for k in range(3))
    tracker.update([a, b], 0.0, 640, 480)
    tracker.update([b], 0.1, 640, 480)
    out = tracker.update([b, c], 0.2, 640, 480)  # a is unseen for 0.2 s: it ends, c takes its place
    assert [p.id for p in out] == [1, 2]
    assert tracker.counts.ended == 1 and tracker.counts.untracked == 0


def test_config_max_age_is_milliseconds_and_tracker_works_in_seconds() -> None:
    stage = make_tracker(TrackingConfig(max_age_ms=250.0))
    assert stage is not None
    assert stage.tracker.max_age == pytest.approx(0.25)
    assert stage.tracker.min_similarity == pytest.approx(0.2)  # keypoint tracker's default
    assert make_tracker(TrackingConfig(tracker="bbox")).tracker.min_similarity == pytest.approx(0.15)
    assert make_tracker(TrackingConfig(tracker="none")) is None


def test_matrix_forms_equal_the_pairwise_definitions() -> None:
    """The trackers use the vectorized matrices; they must equal ``oks`` and ``iou`` pair by pair."""
    rng = np.random.default_rng(11)
    poses = rng.uniform(0, 200, (5, 17, 3))
    tracks = rng.uniform(0, 200, (4, 17, 3))
    poses[..., 2] = rng.uniform(0, 1, (5, 17))
    tracks[..., 2] = rng.uniform(0, 1, (4, 17))
    tracks[0, :, 2] = 0.0  # a track with nothing confident (area 0)
    poses[1, :, 2] = 0.1  # a pose with nothing confident
    tracks[2] = poses[3]  # identical: OKS 1
    got = oks_matrix(poses, tracks, 0.3, 4)
    want = np.array([[oks(p, t, 0.3, 4) for t in tracks] for p in poses])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert got[3, 2] == pytest.approx(1.0)
    boxes_a = np.sort(rng.uniform(0, 100, (6, 2, 2)), axis=1).reshape(6, 4)  # (x0, y0, x1, y1), x0 <= x1
    boxes_b = np.vstack([boxes_a[:3], [[500, 500, 510, 510], [0, 0, 0, 0]]])  # disjoint; empty
    got_iou = iou_matrix(boxes_a, boxes_b)
    want_iou = np.array([[iou(tuple(a), tuple(b)) for b in boxes_b] for a in boxes_a])
    np.testing.assert_allclose(got_iou, want_iou, rtol=1e-9, atol=1e-12)
    assert oks_matrix(poses[:0], tracks).shape == (0, 4) and iou_matrix(boxes_a, boxes_b[:0]).shape == (6, 0)
