"""Keeping a live source alive: reopen after failures with capped backoff, report stalls.

A camera that is unplugged, a stream that drops or a read that times out is retried, waiting
``initial``, then twice as long each time, up to ``maximum`` seconds between attempts. A source
that has produced no frame for longer than ``stall_timeout`` is reported unhealthy (component
``camera <name>``) to :class:`~edgepose.health.Health`; the
service layer turns that into a restart (only when no camera progresses).
The first ``open`` is not retried: a camera that is missing at start is a configuration or
hardware problem and the user should hear about it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edgepose.backoff import Backoff
from edgepose.errors import EdgeposeError, FrameError
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.sources.base import Source
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

COMPONENT = "source"
# What a failing camera or stream raises: our own errors, OS errors (timeouts, unplugged
# devices) and the RuntimeError picamera2/libcamera use for a camera that went away.
RETRYABLE = (EdgeposeError, OSError, RuntimeError)


class RetryingSource(Source):
    """Wraps a live source; ``read`` only returns a frame, or None once ``interrupt``/``close`` ran."""

    def __init__(
        self,
        inner: Source,
        health: Health,
        stall_timeout: float = 10.0,
        backoff: Backoff | None = None,
        stats: RunStats | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        component: str = COMPONENT,
    ) -> None:
        self.inner = inner
        self.component = component  # its name in health: ``camera <name>``
        self.name = inner.name
        self.continuous = inner.continuous
        self.live = inner.live
        self.fails_in_place = inner.fails_in_place
        self.fps = inner.fps
        self.health = health
        self.stall_timeout = stall_timeout
        self.backoff = backoff or Backoff()
        self.stats = stats
        self.clock = clock
        self._wake = threading.Event()
        # The default sleep wakes up on interrupt(), so a stop never waits out a backoff.
        self.sleep = sleep or self._wake.wait
        self.retries = 0
        self.last_error = ""
        self._last_frame = 0.0
        self._open = False

    def open(self) -> None:
        self._wake.clear()
        self.inner.open()
        self._open = True
        self._last_frame = self.clock()
        self.health.ok(self.component)

    def read(self) -> Frame | None:
        attempt = 0
        while not self._wake.is_set():
            try:
                if not self._open:
                    self.inner.open()
                    self._open = True
                    log.info("source %s reopened after %d attempt(s)", self.name, attempt)
                frame = self.inner.read()
                if frame is None:
                    raise FrameError("the stream ended")
            except RETRYABLE as exc:
                self._failed(exc, attempt)
                attempt += 1
                continue
            self._last_frame = self.clock()
            self.last_error = ""
            self.health.ok(self.component)
            return frame
        return None

    def _failed(self, exc: BaseException, attempt: int) -> None:
        self.retries += 1
        if self.stats is not None:
            self.stats.count("source_retries")
        self.last_error = str(exc) or type(exc).__name__
        delay = self.backoff.delay(attempt)
        log.warning("source %s failed (%s); retrying in %.1f s", self.name, self.last_error, delay)
        self._close_inner()
        self.check_stall()
        self.sleep(delay)

    def check_stall(self) -> bool:
        """Mark the source unhealthy when no frame came for ``stall_timeout`` s; True if stalled."""
        idle = self.clock() - self._last_frame
        if idle > self.stall_timeout:
            why = f"no frame for {idle:.1f} s" + (f": {self.last_error}" if self.last_error else "")
            self.health.unhealthy(self.component, why)
            return True
        return False

    def interrupt(self) -> None:
        """Make a waiting ``read`` return None (the pipeline calls this when it stops)."""
        self._wake.set()

    def _close_inner(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self.inner.close()
        except RETRYABLE as exc:  # a source that is already broken may fail to close too
            log.debug("closing %s failed: %s", self.name, exc)

    def close(self) -> None:
        self._wake.set()
        self._close_inner()
