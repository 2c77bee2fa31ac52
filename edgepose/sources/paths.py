"""What a source path is when it is not a plain file or directory, in words a user can act on.

Without this, a symlink loop or a dangling link reads as "not found", and a FIFO named ``clip.mp4``
blocks the run forever in ``open`` (nobody writes to it) or is "not found" to ``is_file``.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from edgepose.errors import InputError

HINT = "give an image, a directory of images, a video file or a camera"

# File types edgepose cannot read frames from, by what ``stat`` says they are.
SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe), not a file"),
    (stat.S_ISSOCK, "a socket, not a file"),
    (stat.S_ISBLK, "a block device, not a file"),
    (stat.S_ISCHR, "a character device, not a file (cameras are /dev/videoN)"),
)


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image, video or directory; None when it may be (or is absent)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"{path} is a symlink to {path.readlink()}, which does not exist"
        return None  # absent: the caller says "not found" in its own words
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symlink loop"
        return None  # permissions and I/O errors are reported by whoever opens it
    for test, what in SPECIAL:
        if test(mode):
            return f"{path} is {what}"
    return None


def check_path(path: Path) -> None:
    """Raise :class:`InputError` when ``path`` is something frames cannot be read from."""
    problem = path_problem(path)
    if problem is not None:
        raise InputError(problem, HINT)
