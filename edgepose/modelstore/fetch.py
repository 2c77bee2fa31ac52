"""Downloading a manifest entry and verifying it before it is used.

The download goes to ``NAME.part`` beside the target and is renamed into place only once its
sha256 matches, so a model directory never holds a half-written or wrong file. A download cut
short keeps its ``.part``: the next fetch asks the server for the rest (HTTP ``Range``) and starts
over cleanly where the server does not support ranges. A checksum mismatch removes the ``.part``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from edgepose.errors import InputError, UnavailableError
from edgepose.modelstore.manifest import ModelEntry

log = logging.getLogger(__name__)
CHUNK = 1 << 16
ENV_BASE_URL = "EDGEPOSE_MODEL_BASE_URL"  # a mirror holding the manifest's file names

# progress(done_bytes, total_bytes or None); called after every chunk and once at the end.
Progress = Callable[[int, int | None], None]


def source_url(entry: ModelEntry, base_url: str = "") -> str:
    """The entry's official URL, or ``base_url/<file>`` for a mirror (or a test's local server)."""
    return f"{base_url.rstrip('/')}/{entry.file}" if base_url else entry.url


def fetch(
    entry: ModelEntry,
    directory: Path,
    base_url: str = "",
    timeout: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Download ``entry`` into ``directory`` (resuming a previous ``.part``); returns the final path."""
    url = source_url(entry, base_url)
    writable_directory(directory)
    target = directory / entry.file
    part = target.with_name(target.name + ".part")
    progress = progress or (lambda _done, _total: None)
    digest = hashlib.sha256()
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "edgepose"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is not a prefix the server knows: start over
            part.unlink()
            return fetch(entry, directory, base_url, timeout, progress)
        raise UnavailableError(f"cannot download {entry.name} from {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnavailableError(f"cannot download {entry.name} from {url}: {reason}", "check the network") from None
    with response:
        resumed = have > 0 and response.status == 206
        if resumed:
            _hash_file(part, digest)
            log.info("%s: resuming at %d bytes", entry.name, have)
        else:
            have = 0  # a full response: whatever was there is replaced
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        try:
            with part.open("ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total)
                out.flush()
                os.fsync(out.fileno())
        except (http.client.IncompleteRead, OSError, TimeoutError) as exc:
            raise _interrupted(entry, done, total, exc) from None
    progress(done, total)
    if total is not None and done < total:
        raise _interrupted(entry, done, total, "the connection closed early")
    return _verify_and_place(entry, part, target, digest.hexdigest())


def writable_directory(directory: Path) -> None:
    """Create ``directory`` and make sure a file can be created in it, before anything is downloaded."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot write to {directory}: {exc.strerror}", "give a writable directory (--dir, or model.cache_dir)"
        ) from None


def _interrupted(entry: ModelEntry, done: int, total: int | None, why: object) -> UnavailableError:
    of = f" of {total}" if total else ""
    return UnavailableError(
        f"download of {entry.name} interrupted at {done}{of} bytes: {why}",
        f"run `edgepose models fetch {entry.name}` again: it resumes where it stopped",
    )


def _verify_and_place(entry: ModelEntry, part: Path, target: Path, got: str) -> Path:
    if entry.sha256 and got != entry.sha256:
        part.unlink(missing_ok=True)
        raise InputError(
            f"{entry.name}: checksum mismatch (expected {entry.sha256}, got {got}); the download was removed",
            "retry; if it persists the file at the URL changed (or a proxy altered it)",
        )
    if not entry.sha256:
        log.warning("%s has no checksum in the manifest; sha256 of the download: %s", entry.name, got)
    part.replace(target)  # atomic on one filesystem: the target is either absent or complete
    return target


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    _hash_file(path, digest)
    return digest.hexdigest()


class ProgressBar:
    """A one-line progress bar on a terminal; on a pipe or journal, a line every ``interval`` s.

    ``clock`` is injected so the throttling can be tested without waiting.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if not self.tty else 0.1
        self.clock = clock
        self._last = -1e9
        self._finished = False

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        final = total is not None and done >= total
        if not final and now - self._last < self.interval:
            return
        if final and self._finished:
            return
        self._last, self._finished = now, final
        self.stream.write(("\r" if self.tty else "") + render(self.label, done, total) + ("" if self.tty else "\n"))
        if final and self.tty:
            self.stream.write("\n")
        self.stream.flush()


def render(label: str, done: int, total: int | None, width: int = 30) -> str:
    """``label [#####.....]  42% 1.2/2.9 MB``, or just the bytes when the size is unknown."""
    mb = done / 1e6
    if not total:
        return f"{label} {mb:.1f} MB"
    frac = min(done / total, 1.0)
    bar = "#" * round(frac * width) + "." * (width - round(frac * width))
    return f"{label} [{bar}] {frac * 100:3.0f}% {mb:.1f}/{total / 1e6:.1f} MB"
