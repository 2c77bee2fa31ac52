"""Where annotated frames go: one image file, a directory of images, or a video file.

Writers take RGB frames (as everything inside edgepose) and convert to OpenCV's BGR once, here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgepose.errors import InputError
from edgepose.opencv import require_cv2, rgb_to_bgr
from edgepose.sources.files import IMAGE_SUFFIXES

# Codecs the opencv-python wheels can write without extra libraries (H.264 is not among them).
VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class FrameWriter(Protocol):
    def write(self, image: np.ndarray, name: str) -> None:
        """Write one RGB frame; ``name`` is the source image's file name (directories) or ''."""

    def close(self) -> None: ...


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an RGB image; the format follows the file suffix. Raises InputError when it cannot."""
    cv2 = require_cv2()
    ok, data = cv2.imencode(path.suffix.lower(), rgb_to_bgr(image))
    if not ok:
        raise InputError(f"cannot encode {path.name} as {path.suffix}")
    try:
        path.write_bytes(data.tobytes())
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def check_image_suffix(path: Path) -> None:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            f"output {path} has no image suffix", "allowed: " + " ".join(sorted(IMAGE_SUFFIXES)) + " (png is lossless)"
        )


class ImageFileWriter:
    """Exactly one image: the output path is a file, or an existing directory to put it in."""

    def __init__(self, output: Path, input_name: str) -> None:
        self.path = output / input_name if output.is_dir() else output
        check_image_suffix(self.path)
        if not self.path.parent.is_dir():
            raise InputError(f"output directory {self.path.parent} does not exist")
        self.written = 0

    def write(self, image: np.ndarray, name: str) -> None:
        write_image(self.path, image)
        self.written += 1

    def close(self) -> None:
        pass


class DirectoryWriter:
    """Each input image under its own name in the output directory (created when missing)."""

    def __init__(self, output: Path) -> None:
        if output.exists() and not output.is_dir():
            raise InputError(f"output {output} is a file, but the input is a directory", "give a directory")
        output.mkdir(parents=True, exist_ok=True)
        self.path = output
        self.written = 0

    def write(self, image: np.ndarray, name: str) -> None:
        write_image(self.path / name, image)
        self.written += 1

    def close(self) -> None:
        pass


class VideoWriter:
    """A video at the source's frame rate; opened on the first frame, when its size is known."""

    def __init__(self, output: Path, fps: float) -> None:
        codec = VIDEO_CODECS.get(output.suffix.lower())
        if codec is None:
            raise InputError(f"output {output} has no video suffix", "allowed: " + " ".join(sorted(VIDEO_CODECS)))
        if not output.parent.is_dir():
            raise InputError(f"output directory {output.parent} does not exist")
        self.path = output
        self.codec = codec
        self.fps = fps if fps > 0 else 25.0  # some containers carry no rate; 25 is the common default
        self.written = 0
        self._writer: Any = None
        self._size: tuple[int, int] | None = None

    def write(self, image: np.ndarray, name: str) -> None:
        cv2 = require_cv2()
        size = (int(image.shape[1]), int(image.shape[0]))
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, size)
            if not self._writer.isOpened():
                raise InputError(f"cannot open {self.path} for writing with codec {self.codec}")
            self._size = size
        elif size != self._size:
            raise InputError(f"frame {self.written} is {size[0]}x{size[1]}, the video is {self._size}")
        self._writer.write(rgb_to_bgr(image))
        self.written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
