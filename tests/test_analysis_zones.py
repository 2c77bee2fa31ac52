"""Zones: debounce on an injected clock, counts without ids, anchors, events and their schema, the stage."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.analysis.anchors import anchor_points
from edgepose.analysis.events import event_document, zone_state_document
from edgepose.analysis.stage import AnalysisStage, AngleAnalyzer, ZoneAnalyzer
from edgepose.analysis.zones import Zone, ZoneTracker
from edgepose.keypoints import KP
from edgepose.pose import FrameResult, Pose
from tests.builders.documents import validate_document

W, H = 1000, 500
LEFT_HALF = np.array([(0, 0), (0.5, 0), (0.5, 1), (0, 1)], float)


def standing(x: float, y: float, track_id: int | None = None, ankles: bool = True) -> Pose:
    """A pose whose ankles (or, without them, whose box bottom centre) are at pixel (x, y)."""
    kp = np.zeros((17, 3), np.float32)
    kp[KP["left_hip"]] = (x - 10, y - 100, 1.0)
    kp[KP["right_hip"]] = (x + 10, y - 100, 1.0)
    if ankles:
        kp[KP["left_ankle"]] = (x - 10, y, 1.0)
        kp[KP["right_ankle"]] = (x + 10, y, 1.0)
    return Pose(kp, 0.9, (x - 20, y - 150, x + 20, y), track_id)


def frame(poses, t: float, index: int = 0) -> FrameResult:
    return FrameResult(index, 1_800_000_000.0 + t, t, W, H, "cam0", tuple(poses))


def tracker(enter: float = 0.5, leave: float = 1.0) -> ZoneTracker:
    return ZoneTracker(Zone("doorway", LEFT_HALF, "feet", enter, leave))


def feed(zt: ZoneTracker, xs_by_id: dict[int, float | None], t: float, debounce: bool = True):
    ids = [tid for tid, x in xs_by_id.items() if x is not None]
    anchors = np.array([[xs_by_id[tid], 0.9] for tid in ids]).reshape(-1, 2)
    return zt.update(t, 1e9 + t, int(t * 10), ids, anchors, debounce)


def kinds(events) -> list[tuple[str, int | None]]:
    return [(e.kind, e.track_id) for e in events]


def test_enter_waits_for_enter_after_without_a_break() -> None:
    zt = tracker(enter=0.5)
    assert feed(zt, {1: 0.2}, 0.0) == []  # inside, not yet long enough
    assert feed(zt, {1: 0.2}, 0.4) == []
    assert feed(zt, {1: 0.8}, 0.45) == []  # stepped out: the wait starts again
    assert feed(zt, {1: 0.2}, 0.5) == []
    assert feed(zt, {1: 0.2}, 0.9) == []  # 0.4 s since it came back
    events = feed(zt, {1: 0.2}, 1.0)
    assert kinds(events) == [("zone_enter", 1), ("zone_count", 1)]
    assert events[0].trigger["held_s"] == pytest.approx(0.5)
    assert events[0].details == {"zone": "doorway", "count": 1}
    assert zt.state.track_ids == (1,) and zt.state.occupied


def test_leave_after_outside_or_gone() -> None:
    zt = tracker(enter=0.0, leave=1.0)
    assert kinds(feed(zt, {1: 0.1, 2: 0.2}, 0.0)) == [("zone_enter", 1), ("zone_enter", 2), ("zone_count", None)]
    assert feed(zt, {1: 0.9, 2: 0.2}, 0.5) == []  # 1 stepped out
    assert feed(zt, {1: 0.9, 2: None}, 1.0) == []  # 2 vanished (missed by the model, say)
    left = feed(zt, {1: 0.9, 2: None}, 1.5)
    assert kinds(left) == [("zone_leave", 1), ("zone_count", 1)]
    assert left[0].trigger["kind"] == "anchor_outside" and left[0].details["count"] == 1
    gone = feed(zt, {1: 0.9}, 2.0)
    assert kinds(gone) == [("zone_leave", 2), ("zone_count", 2)]
    assert gone[0].trigger == {"kind": "track_lost", "anchor": None, "anchor_rule": "feet", "held_s": 1.0}
    assert gone[1].details == {"zone": "doorway", "count": 0, "previous": 1, "occupied": False}
    assert zt.state.count == 0 and not zt.state.occupied


def test_a_blink_shorter_than_leave_after_is_no_leave() -> None:
    zt = tracker(enter=0.0, leave=1.0)
    feed(zt, {1: 0.1}, 0.0)
    for t in (0.2, 0.4, 0.6):  # out for 0.4 s, then back
        assert feed(zt, {1: 0.9 if t < 0.6 else 0.1}, t) == []
    assert feed(zt, {1: 0.9}, 1.0) == [] and feed(zt, {1: 0.9}, 1.9) == []  # the out-time starts afresh at 1.0
    assert kinds(feed(zt, {1: 0.9}, 2.0)) == [("zone_leave", 1), ("zone_count", 1)]


def test_swap_in_one_frame_keeps_the_count_and_says_who() -> None:
    zt = tracker(enter=0.0, leave=0.0)
    feed(zt, {1: 0.1, 2: 0.9}, 0.0)
    events = feed(zt, {1: 0.9, 2: 0.1}, 0.1)
    assert kinds(events) == [("zone_leave", 1), ("zone_enter", 2)]  # the count is 1 before and after
    assert [e.details["count"] for e in events] == [0, 1]
    assert zt.state.track_ids == (2,)


def test_untracked_poses_are_counted_not_followed() -> None:
    zt = tracker(enter=0.5, leave=1.0)
    ids = [None, None, None]
    assert zt.update(0.0, 0.0, 0, ids, np.array([[0.1, 0.5], [0.2, 0.5], [0.9, 0.5]])) == []
    events = zt.update(0.6, 0.6, 1, ids, np.array([[0.1, 0.5], [0.2, 0.5], [0.9, 0.5]]))
    assert kinds(events) == [("zone_count", None)]
    assert events[0].trigger == {"kind": "untracked_count", "untracked": 2}
    assert zt.state.count == 2 and zt.state.track_ids == ()


@pytest.mark.parametrize(
    ("photos", "counts"),
    [
        ([[0.1, 0.2], [0.9], [0.1, 0.1, 0.3]], [2, 0, 3]),  # each photo's count stands at once
        ([[], [0.9, 0.8]], [0, 0]),
    ],
)
def test_photos_without_debounce(photos, counts) -> None:
    zt = tracker(enter=5.0, leave=5.0)  # long debounce, ignored for unrelated images
    got = []
    for i, xs in enumerate(photos):
        anchors = np.array([[x, 0.5] for x in xs]).reshape(-1, 2)
        zt.update(float(i), float(i), i, [None] * len(xs), anchors, debounce=False)
        got.append(zt.state.count)
    assert got == counts


# (rule, pose, expected anchor in pixels)
ANCHOR_CASES = [
    ("feet", standing(100, 400), (100, 400)),  # mid-ankles
    ("feet", standing(100, 400, ankles=False), (100, 400)),  # the box's bottom centre
    ("hips", standing(100, 400), (100, 300)),
    ("box_center", standing(100, 400), (100, 325)),
]


@pytest.mark.parametrize(("rule", "pose", "expected"), ANCHOR_CASES)
def test_anchor_rules(rule, pose: Pose, expected) -> None:
    got = anchor_points(pose.keypoints[None], np.array([pose.box]), rule, 0.3)
    np.testing.assert_allclose(got[0], expected)


def test_feet_with_one_ankle_use_it() -> None:
    pose = standing(100, 400)
    pose.keypoints[KP["right_ankle"], 2] = 0.0
    got = anchor_points(pose.keypoints[None], np.array([pose.box]), "feet", 0.3)
    np.testing.assert_allclose(got[0], (90, 400))


def stage(**zone) -> AnalysisStage:
    z = Zone("doorway", LEFT_HALF, **zone)
    return AnalysisStage([AngleAnalyzer(), ZoneAnalyzer([z])], 0.3)


def test_stage_events_and_states_validate_against_the_schemas() -> None:
    s = stage(enter_after=0.0, leave_after=0.0)
    first = s(frame([standing(200, 450, 1), standing(800, 450, 2)], 0.0, 0))
    assert [z.zone for z in first.zones] == ["doorway"]  # every zone's state on the first frame
    moved = s(frame([standing(800, 450, 1)], 0.1, 1))
    nothing = s(frame([standing(800, 450, 1)], 0.2, 2))
    assert nothing.events == () and nothing.zones == ()  # unchanged: nothing to publish
    events = [*first.events, *moved.events]
    assert kinds(events) == [("zone_enter", 1), ("zone_count", 1), ("zone_leave", 1), ("zone_count", 1)]
    for event in events:
        validate_document(event_document(event, "pi", "cam0"), "events.v1.json")
    for state in (*first.zones, *moved.zones):
        validate_document(zone_state_document(state, "pi", "cam0"), "zones.v1.json")
    assert len(first.pose_fields["angles"]) == 2 and set(first.pose_fields["angles"][0]) >= {"left_knee"}


def test_schema_refuses_a_malformed_event() -> None:
    import jsonschema

    s = stage(enter_after=0.0)
    doc = event_document(s(frame([standing(200, 450, 1)], 0.0)).events[0], "pi", "cam0")
    for broken in (
        {**doc, "zone": "a/b"},
        {**doc, "track_id": None},
        {**doc, "kind": "zone_teleport"},
        {**doc, "trigger": {**doc["trigger"], "anchor": [2, 0]}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate_document(broken, "events.v1.json")


class Exploding:
    name = "exploding"
    needs_angles = False

    def __call__(self, view):
        raise RuntimeError("boom")

    def reset(self) -> None:
        pass


def test_a_failing_analyzer_is_counted_and_skipped() -> None:
    s = AnalysisStage([Exploding(), AngleAnalyzer()], 0.3)
    out = s(frame([standing(200, 450, 1)], 0.0))
    assert s.failures == 1 and "angles" in out.pose_fields  # the others still ran
    bad = FrameResult(0, 0.0, 0.0, W, H, "cam0", (standing(1, 1),), file="")
    object.__setattr__(bad, "poses", ("not a pose",))  # a frame the arrays cannot hold
    assert s(bad).events == () and s.failures == 2


def test_zone_camera_scopes_it() -> None:
    from edgepose.analysis.stage import make_analysis
    from edgepose.config import load_config

    config = load_config(
        None,
        [
            "analysis.enabled=true",
            "analysis.zones=[{name: a, polygon: [[0,0],[1,0],[0,1]], "
            "camera: cam1}, {name: b, polygon: [[0,0],[1,0],[0,1]]}]",
            "cameras.cam0.source.uri=a.mp4",
            "cameras.cam1.source.uri=b.mp4",
        ],
        env={},
    )
    on_cam0 = make_analysis(config, "cam0")
    assert [t.zone.name for t in on_cam0.zones.trackers] == ["b"]
    assert make_analysis(load_config(None, [], env={}), "cam0") is None  # off by default


def test_the_last_person_leaving_the_view_leaves_the_zone() -> None:
    """A frame without anyone is a frame: the zone analyzer runs on it (no failure), so whoever was
    inside leaves after leave_after even though nobody is left to see."""
    s = stage(enter_after=0.0, leave_after=0.2)
    s(frame([standing(200, 450, 1)], 0.0, 0))
    empty = [s(frame([], t, i)) for i, t in enumerate((0.1, 0.2, 0.35), start=1)]
    assert s.failures == 0
    assert kinds([e for out in empty for e in out.events]) == [("zone_leave", 1), ("zone_count", 1)]
    assert empty[-1].zones[0].count == 0
