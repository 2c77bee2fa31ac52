"""sd_notify over ``$NOTIFY_SOCKET``: a few datagrams telling systemd how the service is doing.

The protocol (``man sd_notify``): newline-separated ``KEY=VALUE`` lines in one datagram sent to the
Unix socket named by ``NOTIFY_SOCKET``; a leading ``@`` names a socket in the abstract namespace.
Without the variable every call is a no-op, and no call ever raises: a service must not die because
its manager went away (gunicorn's ``systemd.py`` and systemd's own self-contained example do the same).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes | None:
    """The ``sendto`` address for a ``NOTIFY_SOCKET`` value, or None when it is not a Unix socket."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()  # abstract namespace: the name after a NUL byte
    return None  # empty, or a transport this module does not speak (vsock:...)


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout in seconds from ``WATCHDOG_USEC``, or None when the watchdog is off.

    ``WATCHDOG_PID``, when set, names the process the watchdog is meant for; any other process
    (a child that inherited the environment) must not ping.
    """
    env = os.environ if env is None else env
    pid = os.getpid() if pid is None else pid
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (owner and owner != str(pid)):
        return None
    return usec / 1e6


class Notifier:
    """Sends notifications to systemd; silent without ``NOTIFY_SOCKET``, never raises."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = socket_address(raw)
        if raw and self.address is None:
            log.warning("NOTIFY_SOCKET=%s is not a Unix socket address: not notifying systemd", raw)
        self._sock: socket.socket | None = None
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True when systemd got it."""
        if self.address is None:
            return False
        message = "\n".join(lines).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self.address)
        except OSError as exc:
            if not self._failing:  # one line when it starts failing, one when it recovers
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("notifying systemd again")
            self._failing = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for ``seconds`` more before the start (or stop) times out; send again before it runs out."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
