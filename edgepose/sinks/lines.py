"""Writing whole lines to a file descriptor, and what a sink does when it cannot.

A JSON-lines file must never hold half a document: a reader would fail on it, and the next
append would glue a new document onto it. A full disk (``ENOSPC``) often takes the first part of
a write and refuses the rest, so :class:`LineWriter` writes each line with ``os.write`` (no
buffer holding half a line for later) and, when a write fails, truncates a regular file back to
where the line began. Where it cannot (a pipe, a terminal), the next line starts on a fresh line.

:class:`WriteFailures` is the sink's side: it counts what could not be written by cause, says so
once when writing starts failing (or fails for another reason) and once when it works again.
Every later line is a retry; a sink that cannot write never raises into the pipeline.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class LineWriter:
    """Writes whole lines to ``fd``; a line that cannot be written leaves nothing behind."""

    def __init__(self, fd: int, mid_line: bool = False) -> None:
        self.fd = fd
        self._fresh_line = not mid_line  # False: what is there ends without a newline

    def _end(self) -> int | None:
        """The offset this write will start at, or None where the file cannot be cut back (a pipe)."""
        try:
            return os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            return None

    def write(self, line: bytes) -> None:
        """Write ``line`` and a newline, all of it or (as far as the file allows) none of it.

        Raises the :class:`OSError` that stopped it, after undoing what was written.
        """
        data = (b"" if self._fresh_line else b"\n") + line + b"\n"
        start = self._end()
        done = 0
        try:
            while done < len(data):
                done += os.write(self.fd, data[done:])
        except OSError:
            if done:
                self._undo(start)
            raise
        self._fresh_line = True

    def _undo(self, start: int | None) -> None:
        if start is not None:
            try:
                os.ftruncate(self.fd, start)
                os.lseek(self.fd, start, os.SEEK_SET)
                return
            except OSError:
                pass
        self._fresh_line = False  # half a line stays: the next one starts after a newline

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError as exc:  # nothing is buffered here, so nothing is lost by this
            log.debug("closing fd %d: %s", self.fd, exc)


def ends_mid_line(path: Path) -> bool:
    """Whether a file's last byte is not a newline (a run before was cut off mid-line)."""
    try:
        with path.open("rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # absent or unreadable: the write itself will tell
        return False


def cause_of(exc: OSError) -> str:
    """A short name for why a write failed: ``ENOSPC``, ``EIO``, ``EPIPE``..."""
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


@dataclass
class WriteFailures:
    """What one sink could not write, by cause, and whether it is failing now."""

    sink: str
    dropped: Counter[str] = field(default_factory=Counter)
    failing: str = ""  # the cause of the current run of failures, "" while writes succeed
    _since: int = 0  # dropped when the current run of failures began

    @property
    def total(self) -> int:
        return sum(self.dropped.values())

    def failed(self, exc: OSError) -> None:
        """Count one line as dropped; the first failure of a run (or a new cause) is logged."""
        cause = cause_of(exc)
        self.dropped[cause] += 1
        if cause != self.failing:
            if not self.failing:
                self._since = self.total - 1
            self.failing = cause
            log.warning(
                "%s: cannot write (%s): documents are dropped and counted, and each next one is a retry",
                self.sink,
                exc.strerror or cause,
            )

    def succeeded(self) -> None:
        """A line was written: if writes were failing, say they work again and how many were lost."""
        if self.failing:
            log.warning(
                "%s: writing again after %d document(s) dropped (%s)", self.sink, self.total - self._since, self.failing
            )
            self.failing = ""

    def summary(self) -> str:
        """``12 (ENOSPC: 12)``: the dropped count with its causes."""
        causes = ", ".join(f"{cause}: {n}" for cause, n in sorted(self.dropped.items()))
        return f"{self.total} ({causes})"
