"""pose_match events: hold and release per track with an injected clock, and the library's matches feeding them."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.analysis.behaviours.matching import PoseMatchHolds, Sample
from edgepose.analysis.behaviours.similarity import best_match, normalize

FPS = 10.0


def feed(holds: PoseMatchHolds, scores: list[tuple[str | None, float] | None], track: int = 3) -> list:
    """One frame per entry at FPS; None: the track is not in that frame."""
    events = []
    for i, entry in enumerate(scores):
        samples = [] if entry is None else [Sample(track, entry[0], entry[1])]
        events += holds.update(i / FPS, samples)
    return events


def test_a_held_match_fires_once_after_hold_seconds() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=1.0)
    events = feed(holds, [("tree", 0.5)] * 5 + [("tree", 0.95)] * 40)
    assert len(events) == 1
    (e,) = events
    assert e.kind == "pose_match" and e.track == 3 and e.data["pose"] == "tree"
    assert e.ts == pytest.approx(0.5 + 1.0)  # held from 0.5 s, for 1 s
    assert holds.holding(3) == "tree"


def test_held_shorter_than_hold_fires_nothing() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=1.0)
    assert feed(holds, ([("tree", 0.95)] * 9 + [("tree", 0.5)] * 3) * 5) == []


def test_again_only_after_letting_go() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=1.0, release=0.05)
    run = [("tree", 0.95)] * 15
    events = feed(holds, [*run, ("tree", 0.8), *run, *run])
    assert [round(e.ts, 2) for e in events] == [1.0, 2.6]  # the second hold starts at 1.6 s


def test_the_release_margin_keeps_a_hold_that_dithers_at_the_threshold() -> None:
    """Scores 0.87-0.91 around a 0.9 threshold: with a 0.05 margin one hold, one event; without, none."""
    rng = np.random.default_rng(6)
    scores = [("tree", 0.95)] + [("tree", float(s)) for s in rng.uniform(0.87, 0.91, 60)]
    assert len(feed(PoseMatchHolds(0.9, 1.0, release=0.05), scores)) == 1
    assert feed(PoseMatchHolds(0.9, 1.0, release=0.0), scores) == []


def test_another_pose_becoming_best_restarts_the_hold() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=1.0)
    events = feed(holds, [("tree", 0.95)] * 8 + [("warrior", 0.95)] * 12)
    assert [(e.data["pose"], round(e.ts, 2)) for e in events] == [("warrior", 1.8)]


def test_missing_frames_keep_the_hold_a_long_gap_ends_it() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=1.0, max_gap=0.5)
    short = [("tree", 0.95)] * 4 + [None] * 3 + [("tree", 0.95)] * 4  # 0.4 s unseen
    assert [round(e.ts, 2) for e in feed(holds, short)] == [1.0]
    holds = PoseMatchHolds(threshold=0.9, hold=1.0, max_gap=0.5)
    long = [("tree", 0.95)] * 4 + [None] * 8 + [("tree", 0.95)] * 4  # 0.9 s unseen: a new hold at 1.2 s
    assert feed(holds, long) == []


def test_tracks_hold_independently_and_end_forgets() -> None:
    holds = PoseMatchHolds(threshold=0.9, hold=0.5)
    events = []
    for i in range(10):
        events += holds.update(i / FPS, [Sample(1, "tree", 0.95), Sample(2, "tree", 0.5 if i < 3 else 0.95)])
    assert [(e.track, round(e.ts, 2)) for e in events] == [(1, 0.5), (2, 0.8)]
    holds.end(1)
    assert holds.holding(1) is None and holds.holding(2) == "tree"
    holds.prune(10.0)
    assert holds.holding(2) is None


def test_no_match_and_bad_parameters() -> None:
    holds = PoseMatchHolds(threshold=0.0, hold=0.0)
    assert feed(holds, [(None, 0.0)] * 5) == []  # an empty library matches nothing, even at threshold 0
    with pytest.raises(ValueError):
        PoseMatchHolds(threshold=1.5, hold=1.0)
    with pytest.raises(ValueError):
        PoseMatchHolds(threshold=0.9, hold=-1.0)


def test_matches_from_the_library_drive_the_holds() -> None:
    """Two people against a two-pose library: the one holding a library pose fires, the other does not."""
    rng = np.random.default_rng(7)
    library_poses = rng.uniform(0, 400, (2, 17, 3))
    library_poses[..., 2] = 0.9
    names = ("tree", "warrior")
    library = normalize(library_poses)
    holds = PoseMatchHolds(threshold=0.9, hold=1.0)
    events = []
    for i in range(20):
        holding = library_poses[1] * 0.5 + 100 + rng.normal(0, 1.0, (17, 3)) * [1, 1, 0]  # warrior, smaller, moved
        other = rng.uniform(0, 400, (17, 3))
        other[:, 2] = 0.9
        got = best_match(normalize(np.stack([holding, other])), library, mirrored=True)
        samples = [Sample(t, names[i_], float(s)) for t, i_, s in zip((1, 2), got.index, got.score, strict=True)]
        events += holds.update(i / FPS, samples)
    assert [(e.track, e.data["pose"]) for e in events] == [(1, "warrior")]
