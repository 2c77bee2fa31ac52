"""Logging to stderr: plain lines on a terminal, journald-style under systemd.

Under journald (``JOURNAL_STREAM`` is set) lines carry a ``<N>`` syslog priority prefix and no
timestamp, since the journal adds its own. Repeats of one warning (the same call site and message
template, e.g. a frame failing on every frame) are rate-limited: the first is logged, the rest are
counted and summed up in the next line that gets through.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping

from edgepose.redact import redact_text

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 pose message``, ``2 pose messages``: a count with its noun in agreement (``plural`` if not ``+s``)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then hides URL passwords (``rtsp://user:***@host``) in the whole text,
    the traceback included: a message naming a camera's URI must not leak its password."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JournalFormatter(RedactingFormatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines())


def under_journald(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM"))


ONCE_EACH = {"ratelimit": False}  # ``log.error(..., extra=ONCE_EACH)``: never rate-limited


class RateLimitFilter(logging.Filter):
    """Lets one record per (logger, level, message template) through every ``interval`` seconds.

    Only records at ``min_level`` or above are limited (debug output stays complete), and not those
    logged with ``extra=ONCE_EACH`` (answers to something the user did, like a reload). A record that
    gets through after suppressed ones says how many were left out, so nothing vanishes silently.
    """

    def __init__(
        self, interval: float = 60.0, min_level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self.min_level = min_level
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (last logged, suppressed since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or not getattr(record, "ratelimit", True):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            last, suppressed = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, suppressed + 1)
                return False
            self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} more like this in the last {now - last:.0f} s)"
        return True


def set_level(level: str) -> None:
    """Change the root level of a running process (the service applies ``logging.level`` on reload)."""
    logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))


def setup_logging(level: str = "info", fmt: str = "auto", env: Mapping[str, str] | None = None) -> None:
    """Configure the root logger once per process (the CLI calls this; library code never does)."""
    journald = fmt == "journald" or (fmt == "auto" and under_journald(env))
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RateLimitFilter())
    if journald:
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
