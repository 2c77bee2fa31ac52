"""The hand-off between a capture thread and the inference thread: one latest-frame slot per source.

Kept apart from :mod:`edgepose.pipeline.runner` so the several-camera scheduler
(:mod:`edgepose.pipeline.scheduling`) builds on the same slot the single-camera pipeline uses.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from edgepose.frame import Frame

POLL_S = 0.05  # how often waiting threads look at the stop flags (bounds the stop delay)


class FrameSlot:
    """The hand-off between the capture thread and inference.

    ``drop=True`` (live sources): holds at most ``capacity`` frames; a new frame pushes out the
    oldest, and ``put`` returns how many were pushed out. ``drop=False`` (finite sources): ``put``
    waits until there is room (back-pressure), or until the slot is closed.
    """

    def __init__(self, capacity: int = 1, drop: bool = True) -> None:
        if capacity < 1:
            raise ValueError(f"slot capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.drop = drop
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._finished = False  # the producer is done: get() returns END once empty
        self._closed = False  # the consumer is done: put() returns at once

    def put(self, frame: Frame) -> int:
        """Hand over a frame; returns the number of frames dropped to make room (or this one, if closed)."""
        with self._cond:
            if self._closed:
                return 1
            dropped = 0
            if self.drop:
                while len(self._items) >= self.capacity:
                    self._items.popleft()
                    dropped += 1
            else:
                while len(self._items) >= self.capacity and not self._closed:
                    self._cond.wait(POLL_S)
                if self._closed:
                    return 1
            self._items.append(frame)
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float, until: Callable[[], bool] | None = None) -> Frame | type[END] | None:
        """The next frame, ``END`` when the producer finished and the slot is empty, None on timeout.

        ``until``: also return None as soon as it is true (checked whenever :meth:`wake` is called),
        so the overlapped pipeline waits for "a frame, or the invoke in flight has ended".
        """
        with self._cond:
            if until is not None:
                self._cond.wait_for(lambda: self._items or self._finished or until(), timeout)
            elif not self._items and not self._finished:
                self._cond.wait(timeout)
            if self._items:
                frame = self._items.popleft()
                self._cond.notify_all()
                return frame
            return END if self._finished else None

    def wake(self) -> None:
        """Make a waiting :meth:`get` look at its ``until`` again (from any thread)."""
        with self._cond:
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def close(self) -> int:
        """Stop accepting frames; returns how many were still waiting (the caller counts them)."""
        with self._cond:
            self._closed = True
            left = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return left


class END:
    """Marker: the source has no more frames."""
