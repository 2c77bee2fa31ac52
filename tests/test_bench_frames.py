"""The benchmarks' and studies' in-memory frames: the daemon's own video reading, spread or first."""

from __future__ import annotations

import numpy as np

from edgepose.sources.video import VideoFileSource
from edgepose.tools.bench.frames import first_frames, frame_count, spread_frames, video_frames


def test_first_frames_are_what_the_video_source_reads(walking_video) -> None:
    frames = first_frames(walking_video, 3)
    source = VideoFileSource(walking_video)
    source.open()
    try:
        expected = [source.read().image for _ in range(3)]
    finally:
        source.close()
    assert len(frames) == 3 and all(np.array_equal(a, b) for a, b in zip(frames, expected, strict=True))


def test_spread_frames_cover_the_video_evenly(walking_video) -> None:
    total = frame_count(walking_video)
    assert total == sum(1 for _ in video_frames(walking_video))  # the container's count is the real one
    picked = list(spread_frames(walking_video, 5))
    indices = [i for i, _ in picked]
    assert indices[0] == 0 and indices[-1] == total - 1 and len(indices) == 5
    gaps = np.diff(indices)
    assert gaps.max() - gaps.min() <= 1  # evenly spread
    kept = {i: image for i, image in enumerate(video_frames(walking_video)) if i in set(indices)}
    assert all(np.array_equal(image, kept[i]) for i, image in picked)


def test_a_short_video_gives_what_it_has(walking_video) -> None:
    assert len(first_frames(walking_video, 10_000)) == frame_count(walking_video)
