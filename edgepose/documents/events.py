"""Event documents (``edgepose.events/1``) and zone states (``edgepose.zone/1``) of one frame.

The values come from the analysis stage (:mod:`edgepose.analysis.events` defines them and their
document form); this module turns a frame's findings into the documents the sinks publish.
Schemas: ``edgepose/schema/events.v1.json``, ``edgepose/schema/zones.v1.json`` and
``edgepose/schema/fall.v1.json``.
"""

from __future__ import annotations

from typing import Any

from edgepose.analysis.events import (
    EVENTS_SCHEMA,
    FALL_SCHEMA,
    ZONES_SCHEMA,
    event_document,
    fall_state_document,
    zone_state_document,
)
from edgepose.pose import FrameResult

__all__ = [
    "EVENTS_SCHEMA",
    "FALL_SCHEMA",
    "ZONES_SCHEMA",
    "event_documents",
    "fall_state",
    "fall_state_document",
    "zone_state_document",
    "zone_states",
]


def event_documents(result: FrameResult, device: str) -> list[dict[str, Any]]:
    """The frame's events as documents, in the order they happened ([] without analysis)."""
    if result.analysis is None:
        return []
    return [event_document(e, device, result.camera) for e in result.analysis.events]


def zone_states(result: FrameResult, device: str) -> list[tuple[str, dict[str, Any]]]:
    """``(zone, state document)`` of each zone whose state changed on this frame."""
    if result.analysis is None:
        return []
    return [(z.zone, zone_state_document(z, device, result.camera)) for z in result.analysis.zones]


def fall_state(result: FrameResult, device: str) -> dict[str, Any] | None:
    """The fall state document (who is down) when it changed on this frame, else None."""
    a = result.analysis
    if a is None or not a.falls_changed or a.falls is None:
        return None
    return fall_state_document(a.falls, device, result.camera)
