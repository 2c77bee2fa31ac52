"""Frames of a video decoded into memory for the benchmarks and studies, read as the daemon reads
them (:class:`~edgepose.sources.video.VideoFileSource`: RGB, in order)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgepose.opencv import require_cv2
from edgepose.sources.video import VideoFileSource


def video_frames(video: Path) -> Iterator[np.ndarray]:
    """Every frame of ``video``, RGB, in order; the file is closed when the iteration ends or stops."""
    source = VideoFileSource(video)
    source.open()
    try:
        while (frame := source.read()) is not None:
            yield frame.image
    finally:
        source.close()


def first_frames(video: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames (fewer when the video is shorter)."""
    frames: list[np.ndarray] = []
    for image in video_frames(video):
        if len(frames) == count:
            break
        frames.append(image)
    return frames


def frame_count(video: Path) -> int:
    """The frame count the container states (what spreading frames over the file needs)."""
    cv2 = require_cv2()
    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def spread_frames(video: Path, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """``count`` (index, frame) pairs spread evenly over the video, its first and last frame included."""
    wanted = set(np.linspace(0, frame_count(video) - 1, count).round().astype(int).tolist())
    for i, image in enumerate(video_frames(video)):
        if i > max(wanted):
            break
        if i in wanted:
            yield i, image
