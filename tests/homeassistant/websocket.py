"""The least WebSocket client that talks to Home Assistant's ``/api/websocket`` (RFC 6455 over a
plain loopback socket, text frames only): the test venv has no WebSocket library, and the few
registry and token commands the tests need are request/response.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any


class WebSocket:
    def __init__(self, host: str, port: int, path: str, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"no WebSocket upgrade: {head[:200]!r}")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the WebSocket was closed")
        self.buffer += chunk

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, document: dict[str, Any]) -> None:
        """One masked text frame (clients must mask)."""
        payload = json.dumps(document).encode()
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def receive(self) -> dict[str, Any]:
        """The next text message (fragments joined; pings answered, other control frames skipped)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("the WebSocket was closed by Home Assistant")
            if opcode == 0x9:  # ping: pong with the same data
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(data)) + b"\0\0\0\0" + data)
                continue
            if opcode in (0x1, 0x0):
                parts.append(data)
                if first & 0x80:
                    return json.loads(b"".join(parts))

    def close(self) -> None:
        self.sock.close()


class HomeAssistantSocket:
    """An authenticated connection to Home Assistant's WebSocket API; :meth:`call` sends a command and
    returns its ``result`` (raises with Home Assistant's error otherwise)."""

    def __init__(self, port: int, token: str) -> None:
        self.ws = WebSocket("127.0.0.1", port, "/api/websocket")
        self.next_id = 1
        if self.ws.receive().get("type") != "auth_required":
            raise ConnectionError("Home Assistant did not ask for authentication")
        self.ws.send({"type": "auth", "access_token": token})
        answer = self.ws.receive()
        if answer.get("type") != "auth_ok":
            raise ConnectionError(f"Home Assistant refused the token: {answer}")

    def call(self, kind: str, **fields: Any) -> Any:
        ident = self.next_id
        self.next_id += 1
        self.ws.send({"id": ident, "type": kind, **fields})
        while True:
            answer = self.ws.receive()
            if answer.get("id") == ident and answer.get("type") == "result":
                if not answer.get("success"):
                    raise RuntimeError(f"{kind}: {answer.get('error')}")
                return answer.get("result")

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> HomeAssistantSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
