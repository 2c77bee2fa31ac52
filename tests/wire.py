"""A loopback TCP relay that counts the bytes a client sends to a broker (what goes on the wire).

Used to measure what MQTT 5 topic aliases save per message, by the tests and scripts/bench_mqtt5.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"


class CountingRelay:
    """Listens on a free loopback port and relays each connection to ``(HOST, upstream_port)``.

    ``sent`` is the number of bytes received from clients (and relayed to the broker) so far.
    While ``withhold`` is set, what the broker sends back (acknowledgements) is dropped, so the
    client's messages stay unacknowledged; :meth:`cut` then closes the connections.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.sent = 0
        self._lock = threading.Lock()
        self._server = socket.create_server((HOST, 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = [self._server]
        self._connections: list[socket.socket] = []
        self.withhold = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, self.upstream_port))
            self._sockets += [client, upstream]
            self._connections = [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                if counted:
                    with self._lock:
                        self.sent += len(data)
                elif self.withhold.is_set():
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close the current connection both ways (the client sees the broker go and reconnects)."""
        for s in self._connections:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for s in self._sockets:
            s.close()
