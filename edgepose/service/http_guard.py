"""What the health and preview HTTP servers do so that no client can hurt the daemon.

``http.server`` alone waits forever for a request and starts a thread for every connection, so
idle connections (a port scanner, a half-open proxy, a slow client) pile up until the process has
no file descriptor left: then MQTT cannot reconnect and frames cannot be read. Here:

- at most ``max_clients`` connections are served at once; one more is answered ``503`` and closed
  at once, so the descriptors held are bounded by the cap;
- a client has ``read_timeout`` seconds to send its request line and headers, however slowly they
  trickle in, and may stay idle that long between two requests; then it is disconnected. Sending a
  reply (an MJPEG stream) is not bounded, but a client that stops reading for that long is dropped;
- the listening address is resolved (``::1`` binds an IPv6 socket, ``localhost`` whatever it
  names); an address this machine cannot bind says why in one line, IPv6 switched off included;
- no reverse DNS lookup of the bound address at start (``HTTPServer.server_bind`` does one).

:func:`host_allowed` is the preview's guard against DNS rebinding: a page on ``evil.example``
whose name is made to point at the Pi would otherwise be same-origin with the preview.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import socketserver
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edgepose.errors import UnavailableError

log = logging.getLogger(__name__)

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections; retry later\n"
)


@dataclass(frozen=True)
class Limits:
    """How much one server gives its clients."""

    read_timeout: float = 10.0  # seconds for a request's head, and of idleness between requests
    max_clients: int = 8  # connections served at once


class GuardedHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server with a cap on connections and a resolved address family.

    ``what`` names the server in errors (``service.health``). Handlers should derive from
    :class:`GuardedHandler`, which applies ``limits.read_timeout``.
    """

    daemon_threads = True  # a slow client never delays shutdown

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], limits: Limits, what: str):
        self.limits = limits
        self.what = what
        self.refused = 0  # connections answered 503 because max_clients were being served
        self._slots = threading.BoundedSemaphore(limits.max_clients)
        self._lock = threading.Lock()
        self._open = 0
        refusals: list[tuple[int, OSError]] = []
        # A name may stand for ::1 and 127.0.0.1 (localhost): the first address that binds is taken.
        for family, address in resolve(host, port, what):
            self.address_family = family
            try:
                super().__init__(address, handler)
                return
            except OSError as exc:
                refusals.append((family, exc))
        family, exc = refusals[0]
        raise UnavailableError(
            f"{what}: cannot listen on {shown(host, port)}: {exc.strerror}", bind_hint(family, exc, what)
        )

    @property
    def open_connections(self) -> int:
        """Connections being served now (at most ``limits.max_clients``)."""
        with self._lock:
            return self._open

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's, which looks the name up in DNS
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(BUSY)  # fits any socket buffer: never blocks
            self.shutdown_request(request)
            return
        with self._lock:
            self._open += 1
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is free again
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._open -= 1
        self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply is not news: one debug line, no traceback on stderr."""
        log.debug("%s: connection from %s ended with an error", self.what, client_address, exc_info=True)


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler whose client has ``read_timeout`` seconds for each request's head."""

    server: GuardedHTTPServer

    def setup(self) -> None:
        self.timeout = self.server.limits.read_timeout  # each recv and send (StreamRequestHandler.setup)
        self._head_timer: threading.Timer | None = None
        super().setup()

    def handle_one_request(self) -> None:
        # The per-recv timeout alone lets a client sending a byte every few seconds hold its slot for
        # ever; this deadline covers the whole head, and the idle time before it.
        timer = threading.Timer(self.timeout or 0.0, self._cut)
        timer.daemon = True
        self._head_timer = timer
        timer.start()
        try:
            super().handle_one_request()
        finally:
            timer.cancel()

    def parse_request(self) -> bool:
        ok = super().parse_request()  # reads the headers
        if self._head_timer is not None:
            self._head_timer.cancel()  # the head is in: the reply takes as long as it takes
        return ok

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)  # the blocked read returns: the request ends


def resolve(host: str, port: int, what: str) -> list[tuple[socket.AddressFamily, tuple]]:
    """The families and socket addresses to bind ``host`` (a name, an IPv4 or an IPv6 address) on,
    in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnavailableError(
            f"{what}.host: cannot resolve {host!r}: {getattr(exc, 'strerror', exc) or exc}",
            "give an address of this machine, e.g. 127.0.0.1 or ::1",
        ) from None
    return [(socket.AddressFamily(family), address) for family, _type, _proto, _name, address in infos]


def bind_hint(family: int, exc: OSError, what: str) -> str:
    if family == socket.AF_INET6 and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return f"IPv6 looks switched off on this machine (net.ipv6.conf.all.disable_ipv6): set {what}.host to 127.0.0.1"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"that address is not one of this machine's: set {what}.host to one (127.0.0.1 for local only)"
    return f"choose another {what}.port, or stop what uses it"


def shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without the port and brackets, lower case: ``[::1]:80`` -> ``::1``."""
    value = header.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".").lower()


def host_allowed(header: str | None, names: Iterable[str]) -> bool:
    """Whether a request's ``Host`` header may reach the preview (the DNS-rebinding guard).

    An address passes (rebinding needs a name); so do ``localhost`` and ``*.localhost`` (browsers
    never ask DNS for them) and ``names`` (this device's names, the configured extra ones). No
    ``Host`` at all (HTTP/1.0, ``curl -H 'Host:'``) passes: every browser sends one.
    """
    if not header:
        return True
    host = host_name(header)
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return True
    return host in {n.rstrip(".").lower() for n in names}


def device_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """The names this device answers to without DNS tricks: its host name, ``<host name>.local``
    (mDNS) and ``extra``. Read once at start; no DNS lookup."""
    name = socket.gethostname().lower()
    return frozenset({name, f"{name}.local", name.split(".", 1)[0], *(e.lower() for e in extra)})
