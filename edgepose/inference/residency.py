"""Giving back the pages of a model file the interpreter has finished reading.

An interpreter built from a path maps the file; XNNPACK reads every weight once while the tensors
are allocated, packs them into its own buffers and never reads the file's copy again. Those pages
stay resident (and in the daemon's PSS) until the kernel needs them back: 2.8 MB for MoveNet, 3 MB
for BlazePose's detector, 11 MB for YOLO11n-pose 320 float32. Advising ``MADV_DONTNEED`` on the
read-only mappings of the file drops them at once. Nothing is lost: a read-only file mapping has no
private pages, so a page read again (an operator XNNPACK does not run, a rebuild) is faulted back in
from the page cache or the file, with the same bytes.

Linux only; elsewhere (no ``/proc/self/maps``, no ``madvise``) nothing is released.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAPS = Path("/proc/self/maps")

Advise = Callable[[int, int], bool]  # (start address, length in bytes) -> done


@dataclass(frozen=True)
class Mapping:
    """One line of ``/proc/PID/maps``: an address range and the file behind it (inode 0: anonymous)."""

    start: int
    end: int
    perms: str
    device: tuple[int, int]  # (major, minor)
    inode: int

    @property
    def size(self) -> int:
        return self.end - self.start


def parse_maps(text: str) -> Iterator[Mapping]:
    """The mappings of a ``/proc/PID/maps`` text; lines that do not parse are skipped."""
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        try:
            start, end = (int(v, 16) for v in fields[0].split("-"))
            major, minor = (int(v, 16) for v in fields[3].split(":"))
            yield Mapping(start, end, fields[1], (major, minor), int(fields[4]))
        except ValueError:
            continue


def read_only_mappings_of(text: str, device: tuple[int, int], inode: int) -> list[Mapping]:
    """The mappings of one file (by device and inode, so a renamed or replaced file still matches)
    that nobody may write: only those can be dropped without losing a byte."""
    return [m for m in parse_maps(text) if m.inode == inode and m.device == device and "w" not in m.perms]


def release_file_pages(path: Path, advise: Advise | None = None, maps: Path = MAPS) -> int:
    """Drop this process's resident pages of the read-only mappings of ``path``; returns the bytes
    of address range advised (0 where there is no such mapping, or no way to advise)."""
    try:
        stat = path.stat()
        text = maps.read_text()
    except OSError:
        return 0
    advise = advise or _madvise_dontneed()
    if advise is None:
        return 0
    device = (os.major(stat.st_dev), os.minor(stat.st_dev))
    return sum(m.size for m in read_only_mappings_of(text, device, stat.st_ino) if advise(m.start, m.size))


def _madvise_dontneed() -> Advise | None:
    """``madvise(addr, len, MADV_DONTNEED)`` from the C library, or None where there is none."""
    flag = getattr(mmap, "MADV_DONTNEED", None)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    if flag is None:
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return lambda start, length: madvise(start, length, flag) == 0
