"""The value that passes from a source to the pose estimator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.errors import FrameError


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image.

    image: ``(H, W, 3)`` uint8, **RGB** channel order (sources that decode BGR, like OpenCV,
        convert at the source so nothing downstream has to guess).
    index: counter of frames produced by the source, from 0.
    ts: capture time, Unix seconds (wall clock; what subscribers correlate with other data).
    mono: capture time on ``time.monotonic()``; latencies and ages are measured with it.
    camera: the camera's name, used in topics and documents.
    file: the image file's name for frames read from image files, '' otherwise. Frames of a
        directory are counted by ``index`` only when they decode, so the name is what ties a
        frame (and its document, and its drawing) to its file.
    """

    image: np.ndarray
    index: int
    ts: float
    mono: float
    camera: str = "cam0"
    file: str = ""

    def __post_init__(self) -> None:
        check_image(self.image)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def check_image(image: object) -> None:
    """Refuse anything that is not an RGB uint8 image, with a message that says what it was."""
    if not isinstance(image, np.ndarray):
        raise FrameError(f"frame is a {type(image).__name__}, not an array")
    if image.dtype != np.uint8:
        raise FrameError(f"frame dtype is {image.dtype}, expected uint8")
    if image.ndim != 3 or image.shape[2] != 3:
        raise FrameError(f"frame shape is {image.shape}, expected (height, width, 3)")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise FrameError(f"frame is empty: shape {image.shape}")
