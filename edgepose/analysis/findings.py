"""What the analysis stage finds: per analyzer (:class:`Findings`) and per frame (:class:`Analysis`).

Values only, apart from the stage that computes them, so that :mod:`edgepose.pose` (whose
:class:`~edgepose.pose.FrameResult` carries an :class:`Analysis`) and every analyzer can name
them without importing the stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgepose.analysis.events import Event, FallState, ZoneState


@dataclass(frozen=True, slots=True)
class Findings:
    """What one analyzer found on a frame.

    pose_fields: document field name -> one JSON value per pose (in the frame's pose order).
    events: in the order they happened.
    """

    pose_fields: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the stage found on one frame.

    pose_fields: field -> a value per pose, merged from every analyzer (``angles``: a mapping of
        angle name to degrees or None, per pose). events: every analyzer's, in analyzer order.
    zones: the zones whose state changed on this frame (every zone on the first frame).
    falls: with fall detection on, who is down after this frame; falls_changed: whether that changed
        on this frame (the first frame's counts as a change).
    """

    pose_fields: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    zones: tuple[ZoneState, ...] = ()
    falls: FallState | None = None
    falls_changed: bool = False


NOTHING = Analysis()
