"""From a frame's result to the one output value every sink gets, built once.

The pipeline calls :meth:`Publisher.document` (the pose and event documents), then
:meth:`Publisher.output` (their JSON lines and the zone and fall states),
:meth:`Publisher.deliver` (every sink) and, once the frame is counted, :meth:`Publisher.notify`
(every hook), timing each step apart for the benchmark's stage table. Nothing here depends on
the number of sinks or cameras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from edgepose.documents.events import event_documents, fall_state, zone_states
from edgepose.documents.output import FrameOutput, Output
from edgepose.documents.poses import Stamp, encode, to_document
from edgepose.frame import Frame
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink

# Called after every processed frame with the frame, its result and its document (the service's
# watchdog, the preview page and tests hang off this). Hooks must be quick and must not raise.
ResultHook = Callable[[Frame, FrameResult, dict[str, Any]], None]


class Publisher:
    """Builds each frame's :class:`FrameOutput` and hands it to the sinks and hooks.

    ``stamp`` follows the engine: once the Edge TPU fell back to the CPU, documents say ``cpu``.
    """

    def __init__(self, sinks: Sequence[Sink], stamp: Stamp, hooks: Sequence[ResultHook] = ()) -> None:
        self.sinks = list(sinks)
        self.stamp = stamp
        self.hooks = list(hooks)

    def document(
        self, result: FrameResult, accelerator: str, with_events: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The frame's pose document and (``with_events``: the analysis stage ran) its event documents."""
        if accelerator != self.stamp.accelerator:  # the Edge TPU fell back to the CPU while running
            self.stamp = dataclasses.replace(self.stamp, accelerator=accelerator)
        document = to_document(result, self.stamp)
        events = event_documents(result, self.stamp.device) if with_events else []
        return document, events

    def output(
        self, frame: Frame, result: FrameResult, document: dict[str, Any], events: Sequence[dict[str, Any]]
    ) -> FrameOutput:
        """The lines and the changed states beside the documents: the one value the sinks get."""
        analysis = result.analysis
        changed = analysis is not None and (analysis.zones or analysis.falls_changed)
        device = self.stamp.device
        return FrameOutput(
            frame,
            result,
            document,
            encode(document),
            tuple(events),
            tuple(encode(e) for e in events),
            tuple(zone_states(result, device)) if changed else (),
            fall_state(result, device) if changed else None,
        )

    def deliver(self, output: FrameOutput) -> None:
        """To every sink."""
        for sink in self.sinks:
            sink.write(output)

    def notify(self, output: FrameOutput) -> None:
        """To every hook, once the frame is counted (a hook may read the figures)."""
        for hook in self.hooks:
            hook(output.frame, output.result, output.document)

    def send(self, change: Output) -> None:
        """A change of state (a camera gone quiet, a reload) to every sink."""
        for sink in self.sinks:
            sink.write(change)
