"""Video files through OpenCV's FFmpeg backend (its wheels bundle FFmpeg, so H.264 MP4 works on a fresh Pi)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgepose.errors import FrameError, InputError
from edgepose.frame import Frame
from edgepose.opencv import require_cv2
from edgepose.sources.base import Clocks, Source
from edgepose.sources.decoding import FFMPEG_DEFAULT, DecodeThreads, threads_in_use
from edgepose.sources.framepool import DecodeBuffers
from edgepose.sources.paths import check_path


class VideoFileSource(Source):
    """Frames of a video file, optionally looping and optionally paced at the file's frame rate.

    Paced (``realtime``), the file behaves like a camera: it is *live* (frames not taken in time
    are skipped) and frames carry the clock's time. Read as fast as possible, every frame is
    processed and frames carry their **media time** (open time + frames played / fps, continuing
    across loops), so tracking and smoothing see the video's own timeline, not the reading speed.
    ``decode_threads`` is FFmpeg's decoding threads (0: its default; :mod:`edgepose.sources.decoding`).
    """

    continuous = True

    def __init__(
        self,
        path: str | Path,
        camera: str = "cam0",
        loop: bool = False,
        realtime: bool = False,
        clocks: Clocks | None = None,
        sleep: Any = time.sleep,
        decode_threads: int = FFMPEG_DEFAULT,
    ) -> None:
        self.path = Path(path)
        self.name = camera
        self.loop = loop
        self.realtime = realtime
        self.clocks = clocks or Clocks()
        self.sleep = sleep
        self.decode_threads = DecodeThreads(decode_threads, f"video {self.path}")
        self.fps = 0.0
        self._cap: Any = None
        self._count = 0
        self._start_mono = 0.0
        self._open_mono = 0.0
        self._open_wall = 0.0
        self._file_frame = 0
        self._probed: Any = None  # the frame open() read to check the file: the first read returns it
        self._buffers = DecodeBuffers()

    @property
    def live(self) -> bool:
        return self.realtime

    @property
    def threads_in_use(self) -> int | None:
        """How many threads FFmpeg decodes the open file with; None when closed or not reportable."""
        return threads_in_use(require_cv2(), self._cap)

    def _capture(self, cv2: Any) -> Any:
        return cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, self.decode_threads.params(cv2))

    def open(self) -> None:
        cv2 = require_cv2()
        check_path(self.path)  # before open(): a FIFO would block it
        try:
            with self.path.open("rb"):  # OpenCV would only say it cannot open it, whatever the reason
                pass
        except FileNotFoundError:
            raise InputError(f"video not found: {self.path}", "check source.uri or --source") from None
        except OSError as exc:
            raise InputError(f"cannot read video {self.path}: {exc.strerror}") from None
        cap = self._capture(cv2)
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            cap.release()
            raise InputError(f"cannot read video {self.path} (corrupt, empty or unsupported codec)")
        # Kept, not re-read: seeking back to 0 leaves OpenCV unable to read a one-frame video again.
        self._probed = first
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._cap = cap
        self._start_mono = self._open_mono = self.clocks.mono()
        self._open_wall = self.clocks.wall()
        self._file_frame = 0

    def read(self) -> Frame | None:
        cv2 = require_cv2()
        if self._cap is None:
            raise FrameError("video source is not open")
        if self._probed is not None:
            ok, bgr, self._probed = True, self._probed, None
        else:
            ok, bgr = self._buffers.read(self._cap)
        if not ok:
            if not self.loop:
                return None
            # Reopened rather than seeked: a seek to 0 does not rewind every file (one-frame videos).
            self._cap.release()
            self._cap = self._capture(cv2)
            self._start_mono = self.clocks.mono()
            self._file_frame = 0
            ok, bgr = self._buffers.read(self._cap)
            if not ok:
                raise FrameError(f"video {self.path} cannot be rewound")
        if self.realtime and self.fps > 0:
            due = self._start_mono + self._file_frame / self.fps
            delay = due - self.clocks.mono()
            if delay > 0:
                self.sleep(delay)
        self._file_frame += 1
        if self.realtime or self.fps <= 0:
            wall, mono = self.clocks.wall(), self.clocks.mono()
        else:
            offset = self._count / self.fps
            wall, mono = self._open_wall + offset, self._open_mono + offset
        frame = Frame(self._buffers.rgb(bgr), self._count, wall, mono, self.name)
        self._count += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
