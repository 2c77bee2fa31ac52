"""Frame sources, chosen from the config."""

from __future__ import annotations

from pathlib import Path

from edgepose.config.sections import SourceConfig
from edgepose.errors import ConfigError, InputError
from edgepose.sources.base import Clocks, Source
from edgepose.sources.files import IMAGE_SUFFIXES, ImageSource
from edgepose.sources.video import VideoFileSource

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mjpeg", ".h264"})


def guess_kind(uri: str) -> str:
    """What a source uri is, from its form: a directory, an image or video file, a device, a URL."""
    if uri == "picamera2":
        return "picamera2"
    if uri.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return "stream"
    if uri.startswith("/dev/video") or uri.isdigit():
        return "v4l2"
    path = Path(uri)
    if path.is_dir():
        return "directory"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if not path.exists():
        raise InputError(f"source not found: {uri}", "give an image, a directory, a video file or a camera")
    raise InputError(f"cannot tell what source {uri} is", "set source.kind explicitly")


def make_source(config: SourceConfig, uri: str, clocks: Clocks | None = None) -> Source:
    """Build the source for a resolved uri (``auto`` is resolved by the caller)."""
    kind = guess_kind(uri) if config.kind == "auto" else config.kind
    if kind in ("image", "directory"):
        return ImageSource(uri, config.camera, config.loop, clocks)
    if kind == "video":
        return VideoFileSource(uri, config.camera, config.loop, config.realtime, clocks)
    raise ConfigError(f"source.kind: {kind!r} sources are not available in this build", "use an image or video file")


__all__ = ["Clocks", "Source", "guess_kind", "make_source"]
