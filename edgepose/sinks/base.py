"""The sink interface: where finished documents go.

A sink gets one :data:`~edgepose.documents.output.Output` at a time: a frame's
:class:`~edgepose.documents.output.FrameOutput` (its documents as data and as JSON lines, built
once per frame whatever the number of sinks), or a change of state (a camera gone quiet, a
reload). ``write`` must not block the pipeline on I/O it cannot bound; a sink that has to drop
something counts it in ``dropped``. Commands from outside (a reps reset) do not go through a sink's
interface: a sink that receives them is given :class:`~edgepose.analysis.commands.Commands`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from edgepose.documents.output import Output


class Sink(Protocol):
    """Where documents go. Concrete sinks subclass it and inherit its defaults.

    Implemented by :class:`~edgepose.sinks.jsonlines.StreamSink` (stdout),
    :class:`~edgepose.sinks.jsonlines.JsonlFileSink`, :class:`~edgepose.sinks.mqtt.MqttSink` and the
    benchmark's ``NullSink``. ``name`` labels the sink in logs and /metrics; ``dropped`` counts the
    documents it could not deliver.
    """

    name: str
    dropped: int = 0

    def open(self, meta: dict[str, Any]) -> None:
        """Start; ``meta`` describes the model and run (what MQTT publishes as retained meta)."""

    def write(self, output: Output) -> None:
        """One frame's output, or a change of state (a sink ignores the kinds it has no use for)."""

    def close(self) -> None:
        """Flush and release; called once, also after errors."""

    def counters(self) -> Mapping[str, int | float]:
        """The sink's own figures, all numbers (``/metrics`` exports each as ``edgepose_sink_<key>``)."""
        return {}

    def trouble(self) -> str | None:
        """What keeps this sink from delivering that a retry alone will not mend (a broker refusing
        the login), or None. The daemon reports it as the health component ``sink <name>``."""
        return None
