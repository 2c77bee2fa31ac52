"""Signals that arrive before the daemon's handlers are in place: held, not fatal.

SIGHUP's default action ends the process. ``edgepose run`` needs a few seconds of imports, config
loading and set-up before :class:`~edgepose.service.daemon.Inbox` takes over the signals, and a
``systemctl reload`` (or a log rotation script) in that window would kill the service. So the CLI
installs :class:`HeldSignals` as its very first step, before any slow import: the handler only
records the signal. The daemon then takes the held signals into its inbox and acts on them like
any later one (a reload at start-up re-reads the config). A command that is not a daemon lets the
held signals go with their default action, as if they had never been held.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

HELD = (signal.SIGHUP,)


class HeldSignals:
    """Records ``signals`` from :meth:`install` on, until someone takes them over."""

    def __init__(self, signals: tuple[int, ...] = HELD) -> None:
        self.signals = signals
        self.pending: list[int] = []  # list.append is atomic: safe from a handler in the main thread
        self._previous: dict[int, Any] = {}

    def record(self, signum: int, _frame: Any = None) -> None:
        self.pending.append(signum)

    def install(self) -> HeldSignals:
        self._previous = {sig: signal.signal(sig, self.record) for sig in self.signals}
        return self

    def take(self, record: Callable[[int], None]) -> None:
        """Hand the signals held so far to ``record``, once its own handlers are installed (so none
        falls between the two); signals arriving later go to whichever handler is installed."""
        while self.pending:
            record(self.pending.pop(0))

    def let_go(self, deliver: bool = True) -> None:
        """Restore the previous handlers; with ``deliver``, send what is still held again (not a daemon
        after all: the signals do what they would have done). Without, a daemon that has ended lets
        them drop: they came after it stopped listening."""
        for sig, handler in self._previous.items():
            if signal.getsignal(sig) == self.record:
                signal.signal(sig, handler)
        held, self.pending = self.pending, []
        for sig in held if deliver else ():
            os.kill(os.getpid(), sig)
