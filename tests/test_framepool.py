"""Sources reuse frame buffers that nothing holds, and never write over a frame still in use.

:mod:`edgepose.sources.framepool`: the pool's rule (free means only the pool refers to it, views
included), and the real OpenCV video source: every frame is the video's, whether it was kept or
dropped, and frames dropped at once are decoded into the same few buffers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.sources.framepool import FramePool
from edgepose.sources.video import VideoFileSource

cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.pi  # the OpenCV a Pi has decodes into the buffer given too


def address(image: np.ndarray) -> int:
    return image.__array_interface__["data"][0]


def test_a_buffer_is_reused_only_once_nothing_holds_it() -> None:
    pool = FramePool(4)
    first = pool.take((4, 6, 3))
    kept, where = first, address(first)
    second = pool.take((4, 6, 3))
    assert second is not first
    del first
    assert pool.take((4, 6, 3)) is not kept  # ``kept`` still refers to it
    del kept
    assert address(pool.take((4, 6, 3))) == where  # free again: the first buffer comes back


def test_a_view_of_a_buffer_keeps_it_taken() -> None:
    pool = FramePool(2)
    image = pool.take((8, 8, 3))
    crop, where = image[2:6, 2:6], address(image)
    del image
    assert address(pool.take((8, 8, 3))) != where  # the crop's base is the buffer
    del crop
    assert address(pool.take((8, 8, 3))) == where


def test_the_pool_is_bounded_and_counts_what_it_could_not_serve() -> None:
    pool = FramePool(2)
    held = [pool.take((2, 2, 3)) for _ in range(5)]
    assert len(pool._buffers) == 2 and pool.fresh == 3
    assert len({id(h) for h in held}) == 5


def test_a_new_size_takes_the_place_of_a_free_buffer_of_the_old_one() -> None:
    pool = FramePool(2)
    old = [pool.take((2, 2, 3)) for _ in range(2)]
    del old
    bigger = pool.take((4, 4, 3))
    assert bigger.shape == (4, 4, 3) and any(b is bigger for b in pool._buffers) and pool.fresh == 0
    assert pool.take((2, 2, 3), np.float32).dtype == np.float32


def reference_frames(video: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(count)]
    cap.release()
    return frames


def test_kept_frames_are_never_written_over(walking_video: Path) -> None:
    expected = reference_frames(walking_video, 10)
    source = VideoFileSource(walking_video, decode_threads=1)
    source.open()
    try:
        frames = [source.read() for _ in range(10)]  # more than the pool holds, all kept
    finally:
        source.close()
    for frame, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame.image, want)
    assert len({address(f.image) for f in frames}) == 10


def test_dropped_frames_are_decoded_into_the_same_buffers(walking_video: Path) -> None:
    expected = reference_frames(walking_video, 12)
    source = VideoFileSource(walking_video, decode_threads=1)
    source.open()
    seen = set()
    try:
        for want in expected:
            frame = source.read()
            np.testing.assert_array_equal(frame.image, want)
            seen.add(address(frame.image))
            del frame
    finally:
        source.close()
    assert len(seen) <= 2  # the probe's frame aside, one buffer serves them all
