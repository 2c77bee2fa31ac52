"""Builders for bad inputs, made by the tests themselves (nothing binary is committed).

Each builder writes a real file, directory or mount; the tests run the real CLI on it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.builders.paths import ROOT

# Root reads any file whatever its mode; without these two capabilities it obeys the mode bits
# like any user (the files stay root's, so the venv under /root stays readable).
DENY_READ_AS_ROOT = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def obeying_modes() -> list[str]:
    """The command prefix under which a ``chmod 000`` file cannot be read (empty for a normal user)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a chmod 000 file stays readable, so it cannot be tested")
    return DENY_READ_AS_ROOT


def run_cli_obeying_modes(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m edgepose ARGS`` in a child that cannot read files whose mode forbids it."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [*obeying_modes(), sys.executable, "-m", "edgepose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
    )


def unreadable(path: Path) -> Path:
    """``path`` with mode 000 (use it through :func:`run_cli_obeying_modes`)."""
    path.chmod(0)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A valid PNG header claiming ``width`` x ``height`` RGB pixels, with one row of data (a few KB).

    Decoders look at the size before the data, so this is what a real giant image does to them.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\0" * (1 + 3 * width), 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", row) + png_chunk(b"IEND", b"")
    )
    return path


def huge_tiff(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A little-endian TIFF header claiming ``width`` x ``height`` grey pixels (under 1 KB): edgepose does
    not read TIFF headers itself, so this is refused by OpenCV's own size check."""
    tags = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 122),
        (277, 3, 1),
        (278, 4, 1),
        (279, 4, width),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags
    )
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + b"\0" * 256)
    return path


def video(path: Path, frames: int, size: tuple[int, int] = (320, 240)) -> Path:
    """An MJPG AVI of ``frames`` grey frames (each a little brighter, so they differ)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 60 + i, np.uint8))
    writer.release()
    return path


@contextlib.contextmanager
def tmpfs(mountpoint: Path, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs mounted at ``mountpoint`` (a real filesystem that fills up); unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def fill(directory: Path, leave: int) -> Path:
    """Fill the filesystem holding ``directory`` until at most ``leave`` bytes are free."""
    filler = directory / "filler"
    with filler.open("wb") as f:
        while True:
            free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
            if free <= leave:
                break
            try:
                f.write(b"\0" * min(4096, free - leave))
                f.flush()
            except OSError:
                break
    return filler
