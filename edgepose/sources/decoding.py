"""How many threads FFmpeg (through OpenCV) decodes video files and network streams with.

OpenCV asks FFmpeg for one decoding thread per core. Each thread holds its own frame and decoder
state, and frame threading holds back one frame per extra thread: reading 300 frames of a 720p
H.264 file grew the process by 26.1 MB with one thread, 28.2 MB with two and 36.0 MB with four, at
the same speed (159, 167, 165 fps). On a 4-core Pi Zero 2 W (512 MiB) one thread saves about
10 MB and, on a live stream, three frames of delay. ``source.decode_threads: 0`` (auto) therefore
takes one thread below :data:`~edgepose.kernels.SMALL_BOARD_MB`, the rule ``decoder.kernel: auto``
uses, and FFmpeg's default elsewhere.

The count is an open-time parameter (``CAP_PROP_N_THREADS`` in ``VideoCapture``'s params), which
OpenCV has since 4.7; an older one (Debian Bookworm's python3-opencv 4.6) decodes with its default
and :class:`DecodeThreads` says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgepose.errors import ConfigError
from edgepose.kernels import SMALL_BOARD_MB, board_memory_mb

log = logging.getLogger(__name__)

FFMPEG_DEFAULT = 0  # OpenCV's own choice: one thread per core (at most 16)


def resolve_decode_threads(setting: int, memory_mb: Callable[[], int | None] = board_memory_mb) -> int:
    """The threads to ask FFmpeg for: ``setting`` when positive, else (auto) 1 on a board with less
    than :data:`SMALL_BOARD_MB` MiB of memory (``memory_mb``), else :data:`FFMPEG_DEFAULT`."""
    if setting < 0:
        raise ConfigError(f"source.decode_threads: {setting} is below the minimum 0", "0 is auto, N is N threads")
    if setting > 0:
        return setting
    memory = memory_mb()
    return 1 if memory is not None and memory < SMALL_BOARD_MB else FFMPEG_DEFAULT


class DecodeThreads:
    """The open-time ``VideoCapture`` parameters for ``threads`` (0: FFmpeg's default), per source:
    where OpenCV lacks the property it is said once, however often the source reopens."""

    def __init__(self, threads: int, where: str) -> None:
        self.threads = threads
        self.where = where
        self._said = False

    def params(self, cv2: Any) -> list[int]:
        """``[CAP_PROP_N_THREADS, threads]``, or nothing for FFmpeg's default or an OpenCV without it."""
        if self.threads == FFMPEG_DEFAULT:
            return []
        prop = getattr(cv2, "CAP_PROP_N_THREADS", None)
        if prop is None:
            if not self._said:
                self._said = True
                log.warning(
                    "%s: OpenCV %s cannot set FFmpeg's decoding threads (source.decode_threads: %d): "
                    "decoding with its default, one thread per core; OpenCV 4.7 or later can",
                    self.where,
                    getattr(cv2, "__version__", "?"),
                    self.threads,
                )
            return []
        return [prop, self.threads]


def threads_in_use(cv2: Any, cap: Any) -> int | None:
    """How many threads an open FFmpeg capture decodes with; None when closed or not reportable."""
    prop = getattr(cv2, "CAP_PROP_N_THREADS", None)
    if cap is None or prop is None:
        return None
    return int(cap.get(prop))


__all__ = ["FFMPEG_DEFAULT", "DecodeThreads", "resolve_decode_threads", "threads_in_use"]
