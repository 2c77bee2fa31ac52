"""Builders for the service tests: a real NOTIFY_SOCKET listener and a real ``edgepose run`` child."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Message:
    """One datagram as systemd would receive it, with when it arrived."""

    mono: float
    wall: float
    fields: dict[str, str]


class NotifyListener:
    """A Unix datagram socket standing in for systemd's notify socket; collects what arrives."""

    def __init__(self, path: Path | None = None, abstract: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract is not None:
            self.sock.bind(b"\0" + abstract.encode())
            self.address = "@" + abstract
        else:
            assert path is not None
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.settimeout(0.1)
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append(Message(time.monotonic(), time.time(), fields))

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def with_key(self, key: str, value: str | None = None) -> list[Message]:
        return [m for m in self.snapshot() if key in m.fields and (value is None or m.fields[key] == value)]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 30.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.with_key(key, value)
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {key}={value} within {timeout} s; got {[m.fields for m in self.snapshot()]}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def spawn(
    args: Sequence[str], tmp: Path, env: dict[str, str] | None = None, stdout: int | None = None
) -> tuple[subprocess.Popen, Path]:
    """``python -m edgepose run ARGS`` as a child; stderr goes to a file (returned) so it never blocks."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    full_env.update(env or {})
    stderr_path = tmp / "stderr.log"
    stderr = stderr_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgepose", "run", *args],
        stdout=subprocess.DEVNULL if stdout is None else stdout,
        stderr=stderr,
        env=full_env,
        cwd=ROOT,
    )
    stderr.close()
    return proc, stderr_path


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_child(proc: subprocess.Popen) -> None:
    """Clean up a child a test left running (a failed assertion must not leave it behind)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
