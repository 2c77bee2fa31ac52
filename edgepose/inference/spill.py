"""A model edgepose rewrote, written to an unlinked file on disk so the interpreter maps it.

A rewritten model (BlazePose's landmark model without its mask, PoseNet without Coral's decoder op)
has no file of its own: loaded from its bytes, those bytes stay in the daemon's anonymous memory
for its life (6.1 MB for BlazePose full), though XNNPACK never reads them again once it has packed
the weights. Written to a file that is unlinked as it is created (no name, nothing to clean up, gone
when the interpreter unmaps it), the model is mapped like a file the user gave, and its pages are
given back the same way (:mod:`edgepose.inference.residency`).

Only a directory on a disk will do: a page of a file in ``tmpfs`` is memory whoever maps it, so
releasing it would only move the model out of the daemon's figures. The temporary directory
(``TMPDIR``; the service's private ``/tmp``) comes first; where none qualifies, the model is
loaded from its bytes as before.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
FD_DIR = Path("/proc/self/fd")
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_of(directory: Path, mountinfo: str) -> str | None:
    """The file system type of the mount that holds ``directory`` (an absolute, resolved path),
    from a ``/proc/PID/mountinfo`` text: the mount with the longest mount point that contains it."""
    best, kind = -1, None
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, after = head.split(), tail.split()
        if not sep or len(fields) < 5 or not after:
            continue
        point = fields[4].replace("\\040", " ")
        inside = directory == Path(point) or Path(point) in directory.parents
        if inside and len(point) > best:
            best, kind = len(point), after[0]
    return kind


def spill_directory(candidates: Sequence[Path], mountinfo: Path = MOUNTINFO) -> Path | None:
    """The first candidate that is a writable directory on a disk; None where none is (or where
    ``/proc`` cannot say what holds it, or a process has no ``/proc/self/fd`` to name the file by)."""
    try:
        mounts = mountinfo.read_text()
    except OSError:
        return None
    if not FD_DIR.is_dir():
        return None
    for candidate in candidates:
        directory = candidate.expanduser().resolve()
        if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
            continue
        kind = filesystem_of(directory, mounts)
        if kind is not None and kind not in MEMORY_FILESYSTEMS:
            return directory
    return None


@contextmanager
def spilled(content: bytes, directory: Path) -> Iterator[Path]:
    """``content`` in an unlinked file in ``directory``, named by a path the interpreter can open
    (``/proc/self/fd/N``) for as long as the context lasts; a mapping made in it keeps the file
    after. Raises :class:`OSError` when it cannot be written (a full disk)."""
    with tempfile.TemporaryFile(dir=directory, prefix="edgepose-model-") as file:
        file.write(content)
        file.flush()
        yield FD_DIR / str(file.fileno())
