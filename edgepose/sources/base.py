"""The source interface: open, read a frame with its capture time, close.

Frames carry their capture time in seconds (``Frame.mono`` on ``time.monotonic()``, ``Frame.ts``
Unix time); tracking, smoothing and latency all use these.

``read`` returns None at the natural end of a finite source (last image, end of a video). Errors
that another read may survive raise :class:`~edgepose.errors.FrameError`; a source that cannot be
opened at all raises :class:`~edgepose.errors.InputError` or :class:`~edgepose.errors.UnavailableError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edgepose.frame import Frame


class Source(Protocol):
    """Where frames come from. Concrete sources subclass it and inherit its defaults.

    Implemented by :class:`~edgepose.sources.files.ImageSource`,
    :class:`~edgepose.sources.video.VideoFileSource`, :class:`~edgepose.sources.capture.OpenCvCapture`,
    :class:`~edgepose.sources.picamera2.Picamera2Source`, :class:`~edgepose.sources.retry.RetryingSource`
    (around the live ones) and the benchmark's :class:`~edgepose.tools.bench.runner.MemorySource`.
    """

    name: str
    #: True when consecutive frames show the same scene over time (video, camera), so
    #: state such as MoveNet's crop region may carry from one frame to the next.
    continuous: bool = False
    #: True when frames arrive on their own schedule whether or not they are taken (cameras,
    #: streams, video paced in real time): the pipeline then keeps only the newest frame and
    #: counts the rest as skipped. False: the pipeline processes every frame (back-pressure).
    live: bool = False
    #: True when a failed read may fail again the same way for ever (a camera, a stream, a video
    #: that cannot be rewound): the pipeline gives up after many failures in a row. False when every
    #: read moves on (a directory's next file), so the source's own end bounds its failures.
    fails_in_place: bool = True
    #: Frames a second the source delivers (a video file's own rate, a camera's requested one);
    #: 0.0 when unknown.
    fps: float = 0.0

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...

    def interrupt(self) -> None:
        """Make a ``read`` blocked in another thread return soon (the pipeline is stopping).

        The default does nothing: a read that always returns within a frame needs no help.
        """

    def check_stall(self) -> bool:
        """Called while no frame is waiting: a source that watches itself reports a stall to health.

        Returns True when stalled; the default never is.
        """
        return False


@dataclass(frozen=True)
class Clocks:
    """The two clocks a source stamps frames with; injected so tests can drive time."""

    wall: Callable[[], float] = time.time
    mono: Callable[[], float] = time.monotonic
