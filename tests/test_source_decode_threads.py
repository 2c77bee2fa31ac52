"""``source.decode_threads``: how many threads FFmpeg (through OpenCV) decodes files and streams with.

The real walking video is opened through the project's sources and the open capture is asked how
many threads it decodes with (``CAP_PROP_N_THREADS``), also after a looping file is reopened.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pytest

from edgepose.config import load_config
from edgepose.config.sections import SourceConfig
from edgepose.errors import ConfigError
from edgepose.kernels import SMALL_BOARD_MB
from edgepose.sources import make_source
from edgepose.sources.capture import OpenCvCapture
from edgepose.sources.decoding import resolve_decode_threads
from edgepose.sources.retry import RetryingSource
from edgepose.sources.video import VideoFileSource

pytestmark = pytest.mark.pi  # also on arm64 in the emulated Raspberry Pi OS (make test-pi)


def ffmpeg_default_threads(video: Path) -> int:
    """What OpenCV's FFmpeg backend decodes this file with when nothing is asked (one per core)."""
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    try:
        return int(cap.get(cv2.CAP_PROP_N_THREADS))
    finally:
        cap.release()


@pytest.mark.parametrize("threads", [1, 3])
def test_video_decodes_with_the_threads_asked_also_after_a_loop(walking_video, threads):
    source = VideoFileSource(walking_video, loop=True, decode_threads=threads)
    assert source.threads_in_use is None  # not open
    source.open()
    try:
        assert source.threads_in_use == threads
        first = source._cap
        source._cap.set(cv2.CAP_PROP_POS_FRAMES, 338)  # near the end of the 341 frames
        frames = [source.read() for _ in range(6)]
        assert None not in frames
        assert source._cap is not first  # the loop reopened the file ...
        assert source.threads_in_use == threads  # ... with the same threads
    finally:
        source.close()
    assert source.threads_in_use is None


@pytest.mark.parametrize(("memory", "expected"), [(512, 1), (SMALL_BOARD_MB - 1, 1), (SMALL_BOARD_MB, 0), (8192, 0)])
def test_auto_is_one_thread_below_the_small_board_limit(memory, expected):
    assert resolve_decode_threads(0, lambda: memory) == expected


def test_auto_keeps_ffmpegs_default_where_memory_is_unknown_and_a_number_is_taken_as_given():
    assert resolve_decode_threads(0, lambda: None) == 0
    assert resolve_decode_threads(2, lambda: 512) == 2
    assert resolve_decode_threads(1, lambda: 8192) == 1


@pytest.mark.parametrize(
    ("setting", "memory", "expected"),
    [
        (0, 512, 1),  # auto on a small board: one thread
        (0, 8192, None),  # auto on a large one: FFmpeg's default
        (3, 512, 3),  # a number wins over the board
    ],
)
def test_a_configured_video_decodes_with_the_threads_the_setting_and_board_give(
    walking_video, setting: int, memory: int, expected: int | None
):
    source = make_source(SourceConfig(decode_threads=setting), str(walking_video), memory_mb=lambda: memory)
    source.open()
    try:
        assert source.threads_in_use == (ffmpeg_default_threads(walking_video) if expected is None else expected)
    finally:
        source.close()


def test_stream_source_opens_ffmpeg_with_the_threads_asked(walking_video):
    """The stream path opened on a local file: the same FFmpeg backend and open-time parameters."""
    source = make_source(SourceConfig(kind="stream"), str(walking_video), memory_mb=lambda: 512)
    assert isinstance(source, RetryingSource)
    inner = source.inner
    assert isinstance(inner, OpenCvCapture)
    inner.open()
    try:
        assert inner.threads_in_use == 1
        assert inner.read() is not None
    finally:
        inner.close()


def test_usb_camera_gets_no_ffmpeg_thread_setting():
    """V4L2 frames are not decoded by FFmpeg: the setting does not reach the device open."""
    assert OpenCvCapture("/dev/video97", "v4l2", decode_threads=1).threads_in_use is None


def test_opencv_without_the_property_says_so_once_and_still_reads(walking_video, monkeypatch, caplog):
    """OpenCV before 4.7 (Debian Bookworm's python3-opencv 4.6) has no CAP_PROP_N_THREADS."""
    monkeypatch.delattr(cv2, "CAP_PROP_N_THREADS")
    source = VideoFileSource(walking_video, loop=True, decode_threads=1)
    with caplog.at_level(logging.WARNING, logger="edgepose.sources.decoding"):
        source.open()
        try:
            source._cap.set(cv2.CAP_PROP_POS_FRAMES, 338)
            frames = [source.read() for _ in range(6)]  # through a reopen
            assert source.threads_in_use is None  # cannot be asked either
        finally:
            source.close()
    assert None not in frames
    said = [r for r in caplog.records if "decode_threads" in r.getMessage()]
    assert len(said) == 1
    assert "cannot set" in said[0].getMessage()


def test_opencv_without_the_property_leaves_ffmpegs_default_silently(walking_video, monkeypatch, caplog):
    monkeypatch.delattr(cv2, "CAP_PROP_N_THREADS")
    source = VideoFileSource(walking_video, decode_threads=0)
    with caplog.at_level(logging.WARNING, logger="edgepose.sources.decoding"):
        source.open()
        source.close()
    assert not caplog.records


def test_negative_threads_are_refused_with_the_key():
    with pytest.raises(ConfigError, match=r"source\.decode_threads: -1 is below the minimum 0"):
        load_config(None, ["source.decode_threads=-1"], env={})
    assert load_config(None, ["source.decode_threads=2"], env={}).source.decode_threads == 2
    assert load_config(None, [], env={}).source.decode_threads == 0
