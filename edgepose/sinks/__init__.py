"""Sinks: where pose documents go."""

from __future__ import annotations

from edgepose.analysis.commands import Commands
from edgepose.config.sections import Config
from edgepose.sinks.base import Sink
from edgepose.sinks.jsonlines import JsonlFileSink, StreamSink
from edgepose.sinks.spec import parse_sink
from edgepose.stats import RunStats


def make_sink(spec: str, config: Config, stats: RunStats | None = None, commands: Commands | None = None) -> Sink:
    """A sink from its spec: ``stdout``, ``jsonl:PATH[?mode=a|w]`` or ``mqtt`` (see :mod:`edgepose.sinks.spec`).

    ``commands``: where the commands a sink receives go (MQTT's reps reset topic)."""
    parsed = parse_sink(spec)
    events = config.analysis.enabled and config.analysis.event_lines
    if parsed.kind == "stdout":
        return StreamSink(events=events)
    if parsed.kind == "jsonl":
        return JsonlFileSink(parsed.path, parsed.mode, events)
    from edgepose.sinks.mqtt import MqttSink

    return MqttSink(config, stats or RunStats(), commands=commands)


__all__ = ["Sink", "make_sink"]
