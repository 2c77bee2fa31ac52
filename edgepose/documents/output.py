"""What the pipeline hands every sink: one value per frame, or a change of state.

A :class:`FrameOutput` holds everything a sink may publish for one frame, built once by the
pipeline's :class:`~edgepose.pipeline.publisher.Publisher` whatever the number of sinks: the pose
document and its JSON line, the frame's events and their lines, the zone and fall states that
changed. :class:`CameraQuiet` and :class:`Reloaded` are the two other things a sink is told; so
:meth:`~edgepose.sinks.base.Sink.write` takes one :data:`Output` and a sink needs no other method
to follow the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgepose.frame import Frame
from edgepose.pose import FrameResult

if TYPE_CHECKING:
    from edgepose.config.sections import Config


@dataclass(frozen=True, slots=True)
class FrameOutput:
    """One processed frame, as documents and lines.

    document: the ``edgepose.poses/1`` document; line: its JSON, one line. events: the frame's
    ``edgepose.events/1`` documents in the order they happened, each with its line in
    ``event_lines`` (both empty without the analysis stage). zones: ``(zone, edgepose.zone/1
    document)`` of each zone whose state changed on this frame; fall: the ``edgepose.fall/1``
    document when who is down changed, else None.
    """

    frame: Frame
    result: FrameResult
    document: dict[str, Any]
    line: str
    events: tuple[dict[str, Any], ...] = ()
    event_lines: tuple[str, ...] = ()
    zones: tuple[tuple[str, dict[str, Any]], ...] = ()
    fall: dict[str, Any] | None = None

    @property
    def camera(self) -> str:
        return self.result.camera


@dataclass(frozen=True, slots=True)
class CameraQuiet:
    """Camera ``camera`` has delivered no frame for ``source.stall_timeout``: it sees nobody until its
    next frame (a count a sink keeps for it is 0 now)."""

    camera: str


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A reload (SIGHUP) applied ``config`` to the running pipeline (its analysis or cameras changed);
    ``meta`` is the new meta document. The MQTT sink re-announces; the stream sinks follow
    ``analysis.event_lines``."""

    config: Config
    meta: dict[str, Any]


Output = FrameOutput | CameraQuiet | Reloaded
