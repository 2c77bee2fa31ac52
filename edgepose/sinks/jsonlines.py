"""JSON-lines sinks: standard output, or a file that is appended to and flushed every line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from edgepose.errors import InputError
from edgepose.pose import FrameResult


class StreamSink:
    """Writes one JSON document per line to a text stream (stdout by default)."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.dropped = 0

    def open(self, meta: dict[str, Any]) -> None:
        if self.stream is None:
            self.stream = sys.stdout

    def write(self, result: FrameResult, document: dict[str, Any], line: str) -> None:
        if self.stream is None:
            raise RuntimeError("sink written before open()")
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:  # a closed pipe (edgepose run | head) is not a crash
            self.dropped += 1

    def close(self) -> None:
        pass


class JsonlFileSink(StreamSink):
    """Appends to a file; each line is flushed so a crash loses at most the frame in flight."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(None)
        self.path = Path(path)
        self.name = f"jsonl:{path}"

    def open(self, meta: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot open {self.path} for writing: {exc.strerror}", "check sinks in the config"
            ) from None

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
