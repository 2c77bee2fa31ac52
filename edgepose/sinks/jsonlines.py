"""JSON-lines sinks: standard output, or a file that is appended to one whole line at a time."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from edgepose.documents.output import FrameOutput, Output, Reloaded
from edgepose.errors import InputError
from edgepose.sinks.base import Sink
from edgepose.sinks.lines import LineWriter, WriteFailures, ends_mid_line

log = logging.getLogger(__name__)


class StreamSink(Sink):
    """Writes one JSON document per line to a text stream (stdout by default).

    Lines go straight to the stream's file descriptor when it has one (see :mod:`edgepose.sinks.lines`):
    a line the descriptor cannot take is dropped whole, counted by cause, and the next is a retry.
    ``events``: also write each event document (``edgepose.events/1``) as a line after its frame's
    pose document (``analysis.event_lines``, ``run --events``); readers tell them apart by ``schema``.
    """

    name = "stdout"

    def __init__(self, stream: TextIO | None = None, events: bool = False) -> None:
        self.stream = stream
        self.events = events
        self.failures = WriteFailures(self.name)
        self._lines: LineWriter | None = None

    @property
    def dropped(self) -> int:
        return self.failures.total

    def open(self, meta: dict[str, Any]) -> None:
        if self.stream is None:
            if sys.stdout is None:  # started with its standard output closed
                raise InputError(
                    "the stdout sink has no standard output (it is closed)",
                    "redirect it (> poses.jsonl), or use a jsonl:PATH sink",
                )
            self.stream = sys.stdout
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):  # io.UnsupportedOperation: an in-memory stream
            return
        self.stream.flush()
        self._lines = LineWriter(os.dup(fd))

    def write(self, output: Output) -> None:
        """A frame's pose line, then (``events``) its event lines; a reload may turn the events on or off."""
        if isinstance(output, FrameOutput):
            self._write_line(output.line)
            if self.events:
                for line in output.event_lines:
                    self._write_line(line)
        elif isinstance(output, Reloaded):
            self.events = output.config.analysis.enabled and output.config.analysis.event_lines

    def _write_line(self, line: str) -> None:
        if self.stream is None and self._lines is None:
            raise RuntimeError("sink written before open()")
        try:
            if self._lines is not None:
                self._lines.write(line.encode())
            elif self.stream is not None:
                self.stream.write(line + "\n")
                self.stream.flush()
        except OSError as exc:  # a full disk, a closed pipe (edgepose run | head): never a crash
            self.failures.failed(exc)
            return
        self.failures.succeeded()

    def counters(self) -> dict[str, int]:
        """Figures for /metrics: what could not be written, by cause (``dropped_enospc``...)."""
        return {
            "writing": int(not self.failures.failing),
            **{f"dropped_{cause.lower()}": n for cause, n in self.failures.dropped.items()},
        }

    def trouble(self) -> str | None:
        if not self.failures.failing:
            return None
        return f"cannot write ({self.failures.failing}): {self.failures.total} document(s) dropped so far"

    def close(self) -> None:
        if self._lines is not None:
            self._lines.close()
            self._lines = None
        if self.failures.total:
            log.warning("%s: %s document(s) could not be written", self.name, self.failures.summary())


class JsonlFileSink(StreamSink):
    """Appends to a file, one whole line per document, written as it comes (a crash loses at most
    the frame in flight, and never leaves half a line). ``mode="w"`` empties the file at open:
    it then holds this run only, whose frame counters start at 0 again."""

    def __init__(self, path: str | Path, mode: str = "a", events: bool = False) -> None:
        super().__init__(None, events)
        self.path = Path(path)
        self.mode = mode
        self.name = f"jsonl:{path}"
        self.failures = WriteFailures(self.name)

    def open(self, meta: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = os.O_TRUNC if self.mode == "w" else 0
            mid_line = not fresh and ends_mid_line(self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | fresh, 0o644)
        except OSError as exc:
            raise InputError(
                f"cannot open {self.path} for writing: {exc.strerror}", "check sinks in the config"
            ) from None
        if mid_line:
            log.warning(
                "%s ends in the middle of a line (a run before was cut off): appending after a newline", self.path
            )
        self._lines = LineWriter(fd, mid_line)
