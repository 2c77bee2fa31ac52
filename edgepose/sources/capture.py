"""USB/V4L2 webcams and RTSP/HTTP streams through OpenCV's VideoCapture (V4L2 and FFmpeg backends)."""

from __future__ import annotations

from typing import Any

from edgepose.errors import FrameError, UnavailableError
from edgepose.frame import Frame
from edgepose.opencv import require_cv2
from edgepose.sources.base import Clocks, Source
from edgepose.sources.decoding import FFMPEG_DEFAULT, DecodeThreads, threads_in_use
from edgepose.sources.framepool import DecodeBuffers

OPEN_TIMEOUT_MS = 10_000  # a stream that does not answer is a failed open, not a hang
READ_TIMEOUT_MS = 5_000  # a stream that stops sending is a failed read (the retry wrapper reopens)


class OpenCvCapture(Source):
    """A camera device (``/dev/videoN`` or ``N``) or a network stream (``rtsp://``, ``http://``).

    Frames are stamped when ``read`` returns (the drivers' own timestamps are not comparable
    across backends); the pipeline reads continuously, so that is within one frame of capture.
    ``decode_threads`` is a stream's FFmpeg decoding threads (0: its default); a V4L2 device is not
    decoded by FFmpeg and ignores it.
    """

    continuous = True
    live = True

    def __init__(
        self,
        uri: str,
        kind: str = "v4l2",
        camera: str = "cam0",
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        clocks: Clocks | None = None,
        decode_threads: int = FFMPEG_DEFAULT,
    ) -> None:
        self.uri = uri
        self.kind = kind
        self.name = camera
        self.size = (width, height)
        self.fps = fps
        self.clocks = clocks or Clocks()
        self.decode_threads = DecodeThreads(decode_threads, f"camera {camera}")
        self._cap: Any = None
        self._count = 0
        self._buffers = DecodeBuffers()

    def open(self) -> None:
        cv2 = require_cv2()
        if self.kind == "v4l2":
            target: int | str = int(self.uri.removeprefix("/dev/video")) if self._is_device() else self.uri
            cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
            if cap.isOpened():
                # Ask; the driver picks the nearest mode it has. One buffer: read the newest frame.
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
                cap.set(cv2.CAP_PROP_FPS, self.fps)
                cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            hint = "check the device exists (ls /dev/video*) and the user is in the 'video' group"
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
            params += self.decode_threads.params(cv2)
            cap = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG, params)
            hint = "check the URL, the credentials in it and the network"
        if not cap.isOpened():
            cap.release()
            raise UnavailableError(f"cannot open {self.kind} source {self.uri}", hint)
        self._cap = cap

    @property
    def threads_in_use(self) -> int | None:
        """How many threads FFmpeg decodes the open stream with; None for a device, closed or not reportable."""
        return None if self.kind == "v4l2" else threads_in_use(require_cv2(), self._cap)

    def _is_device(self) -> bool:
        return self.uri.isdigit() or self.uri.removeprefix("/dev/video").isdigit()

    def read(self) -> Frame | None:
        if self._cap is None:
            raise FrameError(f"{self.uri} is not open")
        ok, bgr = self._buffers.read(self._cap)
        if not ok or bgr is None:
            raise FrameError(f"no frame from {self.uri} (disconnected, ended or timed out)")
        mono, wall = self.clocks.mono(), self.clocks.wall()
        frame = Frame(self._buffers.rgb(bgr), self._count, wall, mono, self.name)
        self._count += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
