"""Writing a fleet's documents to JSON-lines files: one per device, camera and UTC day.

``<dir>/<device>/<camera>/<YYYY-MM-DD>.jsonl`` (the day of the document's ``ts``), then
``<YYYY-MM-DD>.1.jsonl``... once a file reaches ``max_bytes``. Lines are written as the daemon's
jsonl sink writes them (:mod:`edgepose.sinks.lines`): whole or not at all, so a full disk drops
documents (counted by cause, each next one a retry) and never leaves half a line. ``fsync``:
``always`` after each line, ``interval`` every ``fsync_interval`` s, ``never`` (the page cache).
With ``batched``, ``always`` syncs at :meth:`Recorder.commit` instead: each file written to once per
batch (a fleet of many streams does not cost an fsync per document), before the batch is acknowledged.
A document's device and camera are checked by the one name rule (:mod:`edgepose.names`), its ``ts``
against the days a file name can hold, so no document of another program makes a path or a crash.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgepose.client.documents import MAX_TS, Event, Poses, Stats
from edgepose.errors import ConfigError
from edgepose.names import name_problem
from edgepose.sinks.lines import LineWriter, WriteFailures, ends_mid_line

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]


@dataclass(frozen=True)
class RecordOptions:
    directory: Path
    max_bytes: int = 0  # start a new file of the same day past this size; 0: one file per day
    fsync: FsyncPolicy = "interval"
    fsync_interval: float = 5.0  # seconds, with fsync="interval"
    max_open: int = 64  # files kept open at once (a fleet of 50 devices, one camera each)

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise ConfigError("--max-bytes must be 0 (no limit) or positive")
        if self.fsync not in ("always", "interval", "never"):
            raise ConfigError(f"--fsync {self.fsync!r}: choose always, interval or never")
        if self.fsync_interval <= 0:
            raise ConfigError("--fsync-interval must be positive")
        if self.max_open < 1:
            raise ConfigError("max_open must be at least 1")


@dataclass
class _Open:
    path: Path
    lines: LineWriter
    size: int
    dirty: bool = False


def day_of(ts: float) -> str:
    """The UTC day of a Unix time, as the file name has it."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


def encode(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def one_line(payload: bytes) -> bytes:
    """The document as one line: as received when it is one already, else re-encoded compactly."""
    if b"\n" not in payload and b"\r" not in payload:
        return payload
    return encode(json.loads(payload))


class Recorder:
    """Writes documents to their file; a failed write is counted in ``failures``, never raised."""

    def __init__(
        self, options: RecordOptions, clock: Callable[[], float] = time.monotonic, batched: bool = False
    ) -> None:
        self.options = options
        self.batched = batched
        self.clock = clock
        self.failures = WriteFailures(f"record:{options.directory}")
        self.written = 0
        self.files: set[Path] = set()
        self._open: OrderedDict[tuple[str, str, str], _Open] = OrderedDict()
        self._part: dict[tuple[str, str, str], int] = {}
        self._next_sync = clock() + options.fsync_interval

    def write(self, doc: Poses | Event | Stats, payload: bytes | None = None) -> bool:
        """Append one document (``payload``: its message as received; default: ``doc.doc`` encoded)
        to its file; False if it was dropped."""
        for name, what in ((doc.device, "device"), (doc.camera, "camera")):
            problem = name_problem(name, what)
            if problem:
                self.failures.dropped["bad-name"] += 1
                log.warning("record: %s: document dropped", problem)
                return False
        if isinstance(doc.ts, bool) or not isinstance(doc.ts, int | float) or not 0 <= doc.ts <= MAX_TS:
            self.failures.dropped["bad-ts"] += 1
            log.warning("record: ts %r is no day: document dropped", doc.ts)
            return False
        key = (doc.device, doc.camera, day_of(doc.ts))
        try:
            line = one_line(payload) if payload is not None else encode(doc.doc)
        except (ValueError, TypeError, RecursionError):  # not JSON after all: a payload no parse took
            self.failures.dropped["not-json"] += 1
            return False
        try:
            f = self._file(key, len(line) + 1)
            f.lines.write(line)
        except OSError as exc:
            self.failures.failed(exc)
            return False
        self.failures.succeeded()
        f.size += len(line) + 1
        f.dirty = True
        self.written += 1
        if self.options.fsync == "always" and not self.batched:
            self._sync(f)
        elif self.options.fsync == "interval" and self.clock() >= self._next_sync:
            self.sync()
        return True

    def commit(self) -> None:
        """The end of a batch (``batched``): with fsync "always", each file written to since the last
        commit is synced once; then what was written may be acknowledged."""
        if self.options.fsync == "always":
            for f in self._open.values():
                self._sync(f)

    def _path(self, key: tuple[str, str, str]) -> Path:
        device, camera, day = key
        part = self._part.get(key, 0)
        name = f"{day}.jsonl" if part == 0 else f"{day}.{part}.jsonl"
        return self.options.directory / device / camera / name

    def _file(self, key: tuple[str, str, str], adding: int) -> _Open:
        f = self._open.get(key)
        limit = self.options.max_bytes
        if f is not None and limit and f.size and f.size + adding > limit:
            self._close(key)
            self._part[key] = self._part.get(key, 0) + 1
            f = None
        while f is None:
            path = self._path(key)
            size = path.stat().st_size if path.exists() else 0
            if limit and size and size + adding > limit:  # left full by an earlier run: the next part
                self._part[key] = self._part.get(key, 0) + 1
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            mid_line = ends_mid_line(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            f = _Open(path, LineWriter(fd, mid_line), size)
            self._open[key] = f
            self.files.add(path)
            while len(self._open) > self.options.max_open:
                self._close(next(iter(self._open)))
        self._open.move_to_end(key)
        return f

    def _sync(self, f: _Open) -> None:
        if f.dirty:
            try:
                os.fsync(f.lines.fd)
            except OSError as exc:  # the data may still reach the disk; say so once per run of failures
                log.warning("record: fsync %s: %s", f.path, exc.strerror)
            f.dirty = False

    def sync(self) -> None:
        """fsync every file written to since the last one (fsync="interval" calls it on its own)."""
        for f in self._open.values():
            self._sync(f)
        self._next_sync = self.clock() + self.options.fsync_interval

    def _close(self, key: tuple[str, str, str]) -> None:
        f = self._open.pop(key)
        if self.options.fsync != "never":
            self._sync(f)
        f.lines.close()

    def close(self) -> None:
        for key in list(self._open):
            self._close(key)
        if self.failures.total:
            log.warning("record: %s document(s) could not be written", self.failures.summary())
