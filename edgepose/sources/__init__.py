"""Frame sources, chosen from the config.

Files (images, directories, videos) are opened as they are; cameras and streams are wrapped in a
:class:`~edgepose.sources.retry.RetryingSource`, which reopens them after failures with capped
backoff and reports a stall to the health registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgepose.config.sections import SourceConfig
from edgepose.errors import ConfigError, InputError
from edgepose.health import Health
from edgepose.kernels import board_memory_mb
from edgepose.sources.base import Clocks, Source
from edgepose.sources.capture import OpenCvCapture
from edgepose.sources.decoding import resolve_decode_threads
from edgepose.sources.files import IMAGE_SUFFIXES, ImageSource
from edgepose.sources.paths import check_path
from edgepose.sources.retry import Backoff, RetryingSource
from edgepose.sources.video import VideoFileSource
from edgepose.stats import RunStats

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mjpeg", ".h264"})


def guess_kind(uri: str) -> str:
    """What a source uri is, from its form: a directory, an image or video file, a device, a URL."""
    if uri == "picamera2" or uri.startswith("picamera2:"):
        return "picamera2"
    if uri.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return "stream"
    if uri.startswith("/dev/video") or uri.isdigit():
        return "v4l2"
    path = Path(uri)
    check_path(path)  # a symlink loop, a FIFO: said as what they are, not "not found"
    try:
        if path.is_dir():
            return "directory"
        exists = path.exists()
    except OSError as exc:  # a directory above it cannot be searched (permissions)
        raise InputError(
            f"cannot look at source {uri}: {exc.strerror}", "check the permissions of its directories"
        ) from None
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if not exists:
        raise InputError(f"source not found: {uri}", "give an image, a directory, a video file or a camera")
    raise InputError(f"cannot tell what source {uri} is", "set source.kind explicitly")


def camera_number(uri: str) -> int:
    """``picamera2`` is camera 0, ``picamera2:N`` is camera N."""
    _, _, n = uri.partition(":")
    if n and not n.isdigit():
        raise ConfigError(f"source.uri: {uri!r} is not picamera2 or picamera2:N", "e.g. picamera2:1 for camera 1")
    return int(n or 0)


def make_source(
    config: SourceConfig,
    uri: str,
    clocks: Clocks | None = None,
    health: Health | None = None,
    stats: RunStats | None = None,
    model_input: tuple[int, int] | None = None,
    component: str = "source",
    memory_mb: Callable[[], int | None] = board_memory_mb,
) -> Source:
    """Build the source for a resolved uri (``auto`` is resolved by the caller).

    ``model_input`` ``(width, height)`` sizes the Pi camera's ``lores`` stream; ``component`` is
    the health component a live source reports as (``camera <name>``); ``memory_mb`` is the board's
    memory, which ``source.decode_threads: 0`` (auto) decides by.
    """
    kind = guess_kind(uri) if config.kind == "auto" else config.kind
    if kind in ("image", "directory"):
        return ImageSource(uri, config.camera, config.loop, clocks)
    if kind == "video":
        threads = resolve_decode_threads(config.decode_threads, memory_mb)
        return VideoFileSource(uri, config.camera, config.loop, config.realtime, clocks, decode_threads=threads)
    size = (config.width, config.height)
    inner: Source
    if kind == "picamera2":
        from edgepose.sources.picamera2 import Picamera2Source

        inner = Picamera2Source(config.camera, camera_number(uri), size, config.fps, model_input, clocks)
    elif kind in ("v4l2", "stream"):
        threads = resolve_decode_threads(config.decode_threads, memory_mb) if kind == "stream" else 0
        inner = OpenCvCapture(
            uri, kind, config.camera, config.width, config.height, config.fps, clocks, decode_threads=threads
        )
    else:
        raise ConfigError(f"source.kind: {kind!r} is not known")
    return RetryingSource(
        inner,
        health or Health(),
        stall_timeout=config.stall_timeout,
        backoff=Backoff(config.retry_min, config.retry_max),
        stats=stats,
        component=component,
    )


__all__ = ["Clocks", "Source", "guess_kind", "make_source"]
