"""Logging to stderr: plain lines on a terminal, journald-style under systemd.

Under journald (``JOURNAL_STREAM`` is set) lines carry a ``<N>`` syslog priority prefix and no
timestamp, since the journal adds its own.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines())


def under_journald(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM"))


def setup_logging(level: str = "info", fmt: str = "auto", env: Mapping[str, str] | None = None) -> None:
    """Configure the root logger once per process (the CLI calls this; library code never does)."""
    journald = fmt == "journald" or (fmt == "auto" and under_journald(env))
    handler = logging.StreamHandler(sys.stderr)
    if journald:
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
