"""Events: what happened in a frame, as values and as schema ``edgepose.events/1`` documents.

One :class:`Event` per happening. Every event has the same envelope (``kind``, ``ts``, ``frame``,
``track_id``, ``trigger``) and the kind's own fields in ``details``; the document is the envelope
plus ``device`` and ``camera``, with the details at the top level. A new kind is a constructor
(here for zones; :func:`edgepose.analysis.behaviours.events.event` for the behaviours' kinds), its
name in :data:`EVENT_KINDS`, and its fields in ``edgepose/schema/events.v1.json``.

The JSON Schema is ``edgepose/schema/events.v1.json``; the retained zone states follow
``edgepose/schema/zones.v1.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EVENTS_SCHEMA = "edgepose.events/1"
ZONES_SCHEMA = "edgepose.zone/1"
FALL_SCHEMA = "edgepose.fall/1"

# kind -> what it means; the schema lists the same kinds with their fields.
EVENT_KINDS: dict[str, str] = {
    "zone_enter": "a tracked person's anchor has been inside the zone for enter_after seconds",
    "zone_leave": "a tracked person's anchor has been outside the zone (or the track gone) for leave_after seconds",
    "zone_count": "the number of people in the zone changed",
    "pose_match": "a tracked person held a pose of the library (score >= threshold) for hold seconds",
    "fall": "a tracked person's hips dropped, the body tipped, and the person has been lying for down_for seconds",
    "recovered": "a person who fell has been upright again for recover_for seconds",
    "rep": "a tracked person completed one repetition of an exercise (the angle went below low, then above high)",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One happening on one frame.

    ts: the frame's capture time, Unix seconds. frame: the source's frame counter.
    track_id: the person it is about, None for events about no one in particular (a count change).
    trigger: what caused it, ``{"kind": ..., ...}`` (see :func:`zone_enter` and friends).
    details: the kind's own fields, e.g. ``{"zone": "doorway", "count": 1}``.
    """

    kind: str
    ts: float
    frame: int
    track_id: int | None
    trigger: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; known: {', '.join(EVENT_KINDS)}")


def _point(anchor: Sequence[float] | None) -> list[float] | None:
    return None if anchor is None else [round(float(anchor[0]), 4), round(float(anchor[1]), 4)]


def zone_enter(
    zone: str, ts: float, frame: int, track_id: int, count: int, anchor: Sequence[float], rule: str, held_s: float
) -> Event:
    """``track_id`` entered ``zone``: its ``rule`` anchor (normalized x, y) was inside for ``held_s``."""
    trigger = {"kind": "anchor_inside", "anchor": _point(anchor), "anchor_rule": rule, "held_s": round(held_s, 3)}
    return Event("zone_enter", ts, frame, track_id, trigger, {"zone": zone, "count": count})


def zone_leave(
    zone: str,
    ts: float,
    frame: int,
    track_id: int,
    count: int,
    anchor: Sequence[float] | None,
    rule: str,
    held_s: float,
) -> Event:
    """``track_id`` left ``zone``: its anchor was outside (or, ``anchor`` None, the track was gone) for ``held_s``."""
    kind = "track_lost" if anchor is None else "anchor_outside"
    trigger = {"kind": kind, "anchor": _point(anchor), "anchor_rule": rule, "held_s": round(held_s, 3)}
    return Event("zone_leave", ts, frame, track_id, trigger, {"zone": zone, "count": count})


def zone_count(
    zone: str,
    ts: float,
    frame: int,
    count: int,
    previous: int,
    entered: Sequence[int],
    left: Sequence[int],
    untracked: int,
) -> Event:
    """``zone``'s count went from ``previous`` to ``count``, through the tracks that ``entered`` and ``left``
    and the ``untracked`` people (poses without ids) counted inside."""
    if entered or left:
        trigger: dict[str, Any] = {"kind": "tracks", "entered": sorted(entered), "left": sorted(left)}
    else:
        trigger = {"kind": "untracked_count"}
    trigger["untracked"] = untracked
    only = [*entered, *left]
    track_id = only[0] if len(only) == 1 else None
    return Event(
        "zone_count",
        ts,
        frame,
        track_id,
        trigger,
        {"zone": zone, "count": count, "previous": previous, "occupied": count > 0},
    )


def event_document(event: Event, device: str, camera: str) -> dict[str, Any]:
    """The schema ``edgepose.events/1`` document of one event (one MQTT message, one JSON line)."""
    return {
        "schema": EVENTS_SCHEMA,
        "kind": event.kind,
        "device": device,
        "camera": camera,
        "ts": round(event.ts, 6),
        "frame": event.frame,
        "track_id": event.track_id,
        **event.details,
        "trigger": dict(event.trigger),
    }


@dataclass(frozen=True, slots=True)
class ZoneState:
    """A zone after a frame: who is in it. ``track_ids`` sorted; ``count`` also counts untracked people."""

    zone: str
    count: int
    track_ids: tuple[int, ...]
    ts: float
    frame: int

    @property
    def occupied(self) -> bool:
        return self.count > 0


def zone_state_document(state: ZoneState, device: str, camera: str) -> dict[str, Any]:
    """The retained ``<prefix>/<camera>/zones/<zone>`` document (schema ``edgepose.zone/1``)."""
    return {
        "schema": ZONES_SCHEMA,
        "device": device,
        "camera": camera,
        "zone": state.zone,
        "ts": round(state.ts, 6),
        "frame": state.frame,
        "occupied": state.occupied,
        "count": state.count,
        "track_ids": list(state.track_ids),
    }


@dataclass(frozen=True, slots=True)
class FallState:
    """Whether anyone is down after a frame: the tracks between their ``fall`` and their ``recovered``
    (or until the track is forgotten). The retained ``<prefix>/<camera>/fall`` the Home Assistant
    "fall detected" sensor reads."""

    track_ids: tuple[int, ...]
    ts: float
    frame: int

    @property
    def detected(self) -> bool:
        return bool(self.track_ids)


def fall_state_document(state: FallState, device: str, camera: str) -> dict[str, Any]:
    """The retained ``<prefix>/<camera>/fall`` document (schema ``edgepose.fall/1``)."""
    return {
        "schema": FALL_SCHEMA,
        "device": device,
        "camera": camera,
        "ts": round(state.ts, 6),
        "frame": state.frame,
        "detected": state.detected,
        "track_ids": list(state.track_ids),
    }
