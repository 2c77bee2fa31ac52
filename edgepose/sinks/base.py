"""The sink interface: where finished documents go.

A sink gets each document both as data and as its encoded JSON line (encoded once per frame,
whatever the number of sinks). ``write`` must not block the pipeline on I/O it cannot bound;
a sink that has to drop something counts it in ``dropped``.
"""

from __future__ import annotations

from typing import Any, Protocol

from edgepose.pose import FrameResult


class Sink(Protocol):
    name: str
    dropped: int

    def open(self, meta: dict[str, Any]) -> None:
        """Start; ``meta`` describes the model and run (what MQTT publishes as retained meta)."""

    def write(self, result: FrameResult, document: dict[str, Any], line: str) -> None: ...

    def close(self) -> None:
        """Flush and release; called once, also after errors."""
