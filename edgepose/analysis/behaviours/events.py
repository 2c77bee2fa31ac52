"""What a behaviour saw happen to one track, and the analysis stage's event it becomes.

The state machines (matching, falls, repetitions) run on the seconds they are fed (the monotonic
clock) and in source-frame pixels, and know nothing of frames: each returns :class:`Happening`
values. :class:`~edgepose.analysis.behaviours.stage.Behaviours` turns them with :func:`event`
into the stage's one event type, :class:`edgepose.analysis.events.Event`, on the frame they
happened on; a :class:`Happening` never leaves this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgepose.analysis.events import Event

if TYPE_CHECKING:  # edgepose.pose names the analysis' findings
    from edgepose.pose import FrameResult


@dataclass(frozen=True, slots=True)
class Happening:
    """One thing that happened to one track.

    kind: ``pose_match``, ``fall``, ``recovered`` or ``rep``.
    track: the tracker's id of the person.
    ts: the time of the sample that triggered it, seconds, on the clock the caller fed in.
    data: what triggered it (the pose name and score, the fall's measurements, the count), plain
        JSON-ready values; hips in source-frame pixels.
    """

    kind: str
    track: int
    ts: float
    data: dict[str, Any] = field(default_factory=dict)


def event(happening: Happening, frame: FrameResult) -> Event:
    """``happening`` as the analysis stage's event on ``frame`` (its capture time, counter and size).

    What the kind reports goes in the details, what set it off in the trigger: ``pose_match``
    {pose, score} after holding it (trigger ``held``: ``held_s``); ``fall`` {hips, normalized 0..1
    by the frame's size} after the drop and lying (trigger ``lying``: ``drop``, ``lean``,
    ``lying_s``); ``recovered`` {down_s} (trigger ``upright``); ``rep`` {exercise, count} (trigger
    ``angle``: the angle that completed it).
    """
    kind, data = happening.kind, happening.data
    if kind == "pose_match":
        details: dict[str, Any] = {"pose": data["pose"], "score": data["score"]}
        trigger: dict[str, Any] = {"kind": "held", "held_s": data["held"]}
    elif kind == "fall":
        width, height = max(frame.width, 1), max(frame.height, 1)
        hips = [round(min(max(data["x"] / width, 0.0), 1.0), 4), round(min(max(data["y"] / height, 0.0), 1.0), 4)]
        details = {"hips": hips}
        trigger = {"kind": "lying", "drop": data["drop"], "lean": data["lean"], "lying_s": data["lying_for"]}
    elif kind == "recovered":
        details, trigger = {"down_s": data["down_for"]}, {"kind": "upright"}
    elif kind == "rep":
        details = {"exercise": data["exercise"], "count": data["count"]}
        trigger = {"kind": "angle", "angle": data["angle"]}
    else:
        raise ValueError(f"not a behaviour's event kind: {kind!r}")
    return Event(kind, frame.ts, frame.frame_index, happening.track, trigger, details)
