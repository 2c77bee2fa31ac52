"""Image files and directories of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.errors import FrameError, InputError
from edgepose.frame import Frame
from edgepose.opencv import bgr_to_rgb, require_cv2
from edgepose.sources.base import Clocks, Source
from edgepose.sources.imagesize import MAX_IMAGE_PIXELS, header_size
from edgepose.sources.paths import check_path, path_problem

IMAGE_SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image; :class:`FrameError` when the file is missing, unreadable, corrupt or not an image."""
    cv2 = require_cv2()
    problem = path_problem(path)  # a FIFO would block the read below; a symlink loop is no "not found"
    if problem is not None:
        raise FrameError(problem)
    try:
        data = np.fromfile(path, np.uint8)
    except FileNotFoundError:
        raise FrameError(f"image not found: {path}") from None
    except OSError as exc:  # permission denied (the service's own user), a directory, an I/O error
        raise FrameError(f"cannot read image {path}: {exc.strerror or exc}") from None
    if not data.size:
        raise FrameError(f"image {path} is empty (0 bytes)")
    size = header_size(data[:65536].tobytes())
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise FrameError(too_large(path, *size))
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own limits, in formats whose header is not read above
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise FrameError(too_large(path)) from None
        raise FrameError(f"cannot decode image {path} (OpenCV: {str(exc).strip().splitlines()[-1]})") from None
    if image is None:
        raise FrameError(f"cannot decode image {path} (corrupt or not an image)")
    return bgr_to_rgb(image)


def too_large(path: Path, width: int = 0, height: int = 0) -> str:
    size = f" ({width}x{height}, {width * height / 1e6:.0f} megapixels)" if width else ""
    return (
        f"image {path}{size} is too large to decode (the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels); "
        "scale it down first"
    )


class ImageSource(Source):
    """One image, or every image of a directory in name order; frames are unrelated (not continuous)."""

    continuous = False
    live = False  # every image is processed (back-pressure), none skipped
    fails_in_place = False  # a bad file is skipped and the next one read: any number of them

    def __init__(self, path: str | Path, camera: str = "cam0", loop: bool = False, clocks: Clocks | None = None):
        self.path = Path(path)
        self.name = camera
        self.loop = loop
        self.clocks = clocks or Clocks()
        self.files: list[Path] = []
        self._next = 0
        self._count = 0
        self._failed = 0  # reads failed in a row: a whole looped pass of them means no image can be read

    def open(self) -> None:
        check_path(self.path)
        if self.path.is_dir():
            try:
                self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            except OSError as exc:
                raise InputError(f"cannot read directory {self.path}: {exc.strerror}") from None
            if not self.files:
                raise InputError(
                    f"no images in directory {self.path}", "supported: " + " ".join(sorted(IMAGE_SUFFIXES))
                )
        elif self.path.is_file():
            self.files = [self.path]
            # A single image that cannot be decoded is a bad input, not a skippable frame.
            try:
                read_image(self.path)
            except FrameError as exc:
                raise InputError(exc.message) from None
        else:
            raise InputError(f"source not found: {self.path}", "check source.uri or --source")
        self._next = 0

    def read(self) -> Frame | None:
        if self._next >= len(self.files):
            if not self.loop or not self.files:
                return None
            self._next = 0
        path = self.files[self._next]
        self._next += 1
        try:
            image = read_image(path)
        except FrameError:
            self._failed += 1
            if self.loop and self._failed >= len(self.files):
                raise InputError(
                    f"no image of directory {self.path} can be read: all {len(self.files)} failed "
                    "(source.loop would go round them for ever)"
                ) from None
            raise
        self._failed = 0
        frame = Frame(image, self._count, self.clocks.wall(), self.clocks.mono(), self.name, path.name)
        self._count += 1
        return frame

    def close(self) -> None:
        self.files = []
