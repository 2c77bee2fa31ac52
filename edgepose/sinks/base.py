"""The sink interface: where finished documents go.

A sink gets each document both as data and as its encoded JSON line (encoded once per frame,
whatever the number of sinks). ``write`` must not block the pipeline on I/O it cannot bound;
a sink that has to drop something counts it in ``dropped``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from edgepose.pose import FrameResult

if TYPE_CHECKING:
    from edgepose.config import Config


class Sink(Protocol):
    """Where documents go. Concrete sinks subclass it and inherit its defaults.

    Implemented by :class:`~edgepose.sinks.jsonlines.StreamSink` (stdout),
    :class:`~edgepose.sinks.jsonlines.JsonlFileSink`, :class:`~edgepose.sinks.mqtt.MqttSink` and the
    benchmark's ``NullSink``. ``name`` labels the sink in logs and /metrics; ``dropped`` counts the
    documents it could not deliver; :meth:`counters` adds its own figures to /metrics and stats.
    """

    name: str
    dropped: int = 0

    def open(self, meta: dict[str, Any]) -> None:
        """Start; ``meta`` describes the model and run (what MQTT publishes as retained meta)."""

    def write(self, result: FrameResult, document: dict[str, Any], line: str) -> None: ...

    def write_events(self, result: FrameResult, events: Sequence[dict[str, Any]], lines: Sequence[str]) -> None:
        """The frame's events (``edgepose.events/1``, each with its JSON line), after its :meth:`write`.

        Called only for frames with events. The default drops them: a sink publishes events only
        when it says so (MQTT always, stdout and jsonl with ``analysis.event_lines``).
        """

    def close(self) -> None:
        """Flush and release; called once, also after errors."""

    def reload(self, config: Config, meta: dict[str, Any]) -> None:
        """A reload (SIGHUP) applied ``config`` to the running pipeline; ``meta`` is its new meta
        document. The default has nothing to follow; MQTT re-announces, the stream sinks follow
        ``analysis.event_lines``."""

    def on_reps_reset(self, reset: Callable[[int | None], bool], camera: str | None = None) -> None:
        """Where commands to reset camera ``camera``'s repetition counts go (``reset(track)``, None for
        every track); ``camera`` None: the one camera, or every camera without its own. The default
        receives no commands; MQTT takes them on each camera's ``<prefix>/<camera>/reps/reset``."""

    def counters(self) -> Mapping[str, int | float]:
        """The sink's own figures, all numbers (``/metrics`` exports each as ``edgepose_sink_<key>``)."""
        return {}

    def camera_quiet(self, camera: str) -> None:
        """Camera ``camera`` has delivered no frame for ``source.stall_timeout``: a count this sink keeps
        for it is 0 until its next frame (the daemon calls it, from its own thread). The default keeps none."""

    def trouble(self) -> str | None:
        """What keeps this sink from delivering that a retry alone will not mend (a broker refusing
        the login), or None. The daemon reports it as the health component ``sink <name>``."""
        return None
