"""Sinks: where pose documents go."""

from __future__ import annotations

from edgepose.config.sections import Config
from edgepose.errors import ConfigError
from edgepose.sinks.base import Sink
from edgepose.sinks.jsonlines import JsonlFileSink, StreamSink
from edgepose.stats import RunStats


def make_sink(spec: str, config: Config, stats: RunStats | None = None) -> Sink:
    """A sink from its spec: ``stdout``, ``jsonl:PATH`` or ``mqtt``."""
    kind, _, arg = spec.partition(":")
    if kind == "stdout":
        return StreamSink()
    if kind == "jsonl" and arg:
        return JsonlFileSink(arg)
    if kind == "mqtt":
        from edgepose.sinks.mqtt import MqttSink

        return MqttSink(config, stats or RunStats())
    raise ConfigError(f"sink {spec!r} is not known", "allowed: stdout, jsonl:PATH, mqtt")


__all__ = ["Sink", "make_sink"]
