"""What a behaviour reports: one value per event, for the events topic to publish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to one track.

    kind: ``pose_match``, ``fall``, ``recovered`` or ``rep``.
    track: the tracker's id of the person.
    ts: the time of the sample that triggered it, seconds, on the clock the caller fed in.
    data: what triggered it (the pose name and score, the fall's measurements, the count), plain
        JSON-ready values.
    """

    kind: str
    track: int
    ts: float
    data: dict[str, Any] = field(default_factory=dict)
