"""`edgepose watch` shows zone states and the latest events (pure state functions, no broker)."""

from __future__ import annotations

import json

from edgepose.tools.watch.state import EVENTS_SHOWN, WatchState, on_message, render, view_lines

PREFIX = "edgepose/pi"


def feed(state: WatchState, topic: str, doc: dict | None) -> WatchState:
    return on_message(state, f"{PREFIX}/{topic}", json.dumps(doc).encode() if doc is not None else b"", 1.0)


def event(frame: int, kind: str = "zone_enter", track: int | None = 3, count: int = 1) -> dict:
    return {
        "schema": "edgepose.events/1",
        "kind": kind,
        "camera": "cam0",
        "frame": frame,
        "ts": 1.0,
        "track_id": track,
        "zone": "doorway",
        "count": count,
    }


def test_zone_states_and_events_in_the_view() -> None:
    state = WatchState(PREFIX, "broker:1883")
    state = feed(state, "cam0/zones/doorway", {"zone": "doorway", "occupied": True, "count": 2, "track_ids": [3, 7]})
    state = feed(state, "cam0/zones/sofa", {"zone": "sofa", "occupied": False, "count": 0, "track_ids": []})
    for frame in range(EVENTS_SHOWN + 2):
        state = feed(state, "cam0/events", event(frame))
    text = render(state, 1.0)
    assert "[cam0] zone doorway: OCCUPIED 2 (ids 3, 7)" in text
    assert "[cam0] zone sofa: empty" in text
    assert f"[cam0] frame {EVENTS_SHOWN + 1} zone_enter doorway #3 (count 1)" in text
    assert "frame 0 zone_enter" not in text and "frame 1 zone_enter" not in text  # only the latest are kept
    assert state.bad_messages == 0


def test_a_removed_zone_leaves_the_view_and_each_event_prints_once() -> None:
    state = feed(WatchState(PREFIX, "b"), "cam0/zones/sofa", {"occupied": False, "count": 0, "track_ids": []})
    facts, lines = view_lines(state, {}, 1.0)
    assert "[cam0] zone sofa: empty" in lines
    state = feed(state, "cam0/zones/sofa", None)  # the empty retained message that removes it
    state = feed(state, "cam0/events", event(9, "zone_leave", 4, 0))
    facts, lines = view_lines(state, facts, 1.0)
    assert not any("zone sofa" in line for line in lines) and "zone sofa" not in render(state, 1.0)
    assert any("frame 9 zone_leave doorway #4 (count 0)" in line for line in lines)
    assert view_lines(state, facts, 1.0)[1] == ()  # nothing new: nothing printed


def test_a_broken_event_is_counted_not_fatal() -> None:
    state = on_message(WatchState(PREFIX, "b"), f"{PREFIX}/cam0/events", b"not json", 1.0)
    assert state.bad_messages == 1 and state.events == ()
