"""The booted container, driven from this machine: every command runs inside through ``nsenter``.

``scripts/test-service.sh`` boots Debian Bookworm with ``systemd-nspawn --boot`` and passes the PID
(as seen from here) of the container's systemd in ``EDGEPOSE_SERVICE_PID``. ``nsenter -t PID -a``
joins all its namespaces: the command sees the container's files, its systemd and journald, and its
private network (only ``lo``, where the container's own Mosquitto listens). The environment is
replaced by a clean one, as a login shell there would have it.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

PATH_INSIDE = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT = "edgepose.service"
CONFIG = "/etc/edgepose/config.yaml"
DROP_INS = "/run/systemd/system/edgepose.service.d"  # runtime drop-ins: gone at the next boot
PREFIX = "edgepose/svc"  # device_id svc in config.yaml
PID = os.environ.get("EDGEPOSE_SERVICE_PID", "")

# Every test module here: marked, and skipped unless scripts/test-service.sh booted the container.
SERVICE_TESTS = [
    pytest.mark.service_systemd,
    pytest.mark.skipif(not PID, reason="runs against the booted container of make test-service"),
]


class InsideCommandError(AssertionError):
    """A command inside failed: its command line, exit code and output are the message."""


@dataclass(frozen=True)
class Container:
    pid: int  # the container's PID 1 (systemd), as this machine numbers it

    def command(self, *args: str) -> list[str]:
        env = [f"PATH={PATH_INSIDE}", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"]
        return ["nsenter", "-t", str(self.pid), "-a", "env", "-i", *env, *args]

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.command(*args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise InsideCommandError(
                f"inside: {shlex.join(args)} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
            )
        return done

    def sh(self, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-ec", script, check=check, timeout=timeout)

    def write(self, path: str, text: str, mode: str = "0644", owner: str = "root") -> None:
        self.run("install", "-D", "-m", mode, "-o", owner, "-g", owner, "/dev/stdin", path, input=text)

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def exists(self, path: str) -> bool:
        return self.run("test", "-e", path, check=False).returncode == 0

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # -- systemd and the journal -----------------------------------------------------------------

    def systemctl(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def show(self, *props: str, unit: str = UNIT) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def prop(self, name: str, unit: str = UNIT) -> str:
        return self.show(name, unit=unit)[name]

    def cursor(self) -> str:
        """Where the journal ends now: ``journal(after=...)`` then shows only what came later."""
        out = self.run("journalctl", "--no-pager", "-n", "0", "--show-cursor").stdout
        return out.strip().rsplit("-- cursor: ", 1)[1]

    def journal_entries(self, *args: str, after: str = "") -> list[dict[str, object]]:
        """Whole journal entries (every field) as JSON objects, those after the cursor ``after``.

        ``--cursor`` and dropping the cursor's own entry, not ``--after-cursor``: journalctl 252
        shows nothing at all for ``--after-cursor C -u UNIT -p warning`` (both matches at once).
        """
        extra = ["--cursor", after] if after else []
        out = self.run("journalctl", "--no-pager", "-q", "-o", "json", *extra, *args).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [e for e in entries if e.get("__CURSOR") != after]

    def journal(self, *args: str, after: str = "") -> list[str]:
        """The messages (what ``-o cat`` shows), e.g. ``journal("-u", UNIT, "-p", "warning")``."""
        return [message(e) for e in self.journal_entries(*args, after=after)]

    def wait_for(self, what: str, check: Callable[[], object], timeout: float, every: float = 0.5) -> object:
        """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(every)

    def wait_journal(self, text: str, timeout: float, *args: str, after: str = "") -> str:
        """The first journal line containing ``text`` (after the cursor), waiting for it to appear."""
        found = self.wait_for(
            f"{text!r} in the journal",
            lambda: next((line for line in self.journal(*args, after=after) if text in line), None),
            timeout,
        )
        return str(found)


def message(entry: dict[str, object]) -> str:
    """An entry's MESSAGE (journald stores one that is not clean UTF-8 as a list of bytes)."""
    value = entry.get("MESSAGE", "")
    if isinstance(value, list):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}


def seconds(span: str) -> float:
    """A time span as ``systemctl show`` prints it (``30s``, ``1min 30s``, ``500ms``) in seconds."""
    total = 0.0
    for part in span.split():
        number = part.rstrip("abcdefghijklmnopqrstuvwxyz")
        total += float(number) * UNITS[part[len(number) :] or "s"]
    return total


@dataclass
class Message:
    topic: str
    payload: str
    at: float  # time.monotonic() here when it arrived


@dataclass
class Subscriber:
    """``mosquitto_sub -v`` inside the container, in the background; records every message."""

    container: Container
    topic: str
    user: str
    password: str
    messages: list[Message] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _pid: int = 0  # mosquitto_sub's, as the container numbers it
    _new: queue.SimpleQueue[Message] = field(default_factory=queue.SimpleQueue)

    def __enter__(self) -> Subscriber:
        # -F: topic, a tab, the payload; one line a message (payloads here have no newline). The
        # shell says its PID first: nsenter does not pass a signal on, so the end kills it inside.
        self._proc = self.container.popen(
            "sh",
            "-c",
            'echo "$$"; exec mosquitto_sub "$@"',
            "mosquitto_sub",
            "-h",
            "localhost",
            "-u",
            self.user,
            "-P",
            self.password,
            "-q",
            "1",
            "-t",
            self.topic,
            "-F",
            "%t\t%p",
        )
        assert self._proc.stdout is not None
        self._pid = int(self._proc.stdout.readline())
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            topic, _, payload = line.rstrip("\n").partition("\t")
            message = Message(topic, payload, time.monotonic())
            self.messages.append(message)
            self._new.put(message)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self.container.run("kill", str(self._pid), check=False)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)

    def payloads(self, topic_end: str = "") -> list[str]:
        return [m.payload for m in self.messages if m.topic.endswith(topic_end)]

    def wait(self, what: str, check: Callable[[Message], bool], timeout: float) -> Message:
        """The first message, already recorded or yet to come, for which ``check`` holds."""
        for message in list(self.messages):
            if check(message):
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._new.get(timeout=left)
            except queue.Empty:
                break
            if check(message):
                return message
        stderr = ""
        if self._proc is not None and self._proc.poll() is not None and self._proc.stderr is not None:
            stderr = f" (mosquitto_sub exited: {self._proc.stderr.read().strip()})"
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what} on {self.topic}{stderr}")


@dataclass(frozen=True)
class Broker:
    """The container's Mosquitto: anonymous clients are refused; the tests subscribe as ``observer``."""

    container: Container
    observer_password: str
    service_password: str  # what /etc/edgepose/mqtt_password holds, the service's credential

    def subscribe(self, topic: str) -> Subscriber:
        return Subscriber(self.container, topic, "observer", self.observer_password)

    def retained(self, topic: str) -> str:
        """The retained payload of ``topic`` (empty when none), as a new subscriber gets it."""
        done = self.container.run(
            "mosquitto_sub",
            "-h",
            "localhost",
            "-u",
            "observer",
            "-P",
            self.observer_password,
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "3",
            "--retained-only",
            check=False,
        )
        return done.stdout.strip()


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Service:
    """edgepose.service in the container: its config, runtime drop-ins, start and stop."""

    container: Container
    base: dict[str, Any]
    drop_ins: list[str] = field(default_factory=list)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Write the base config with ``changes`` merged in (section by section); returns it."""
        config = merged(self.base, changes)
        self.write_config(yaml.safe_dump(config, sort_keys=False))
        return config

    def write_config(self, text: str) -> None:
        self.container.write(CONFIG, text, "0644")

    def drop_in(self, name: str, text: str) -> None:
        """A runtime drop-in for this test (``[Service]`` lines), then daemon-reload."""
        self.container.write(f"{DROP_INS}/{name}.conf", "[Service]\n" + text)
        self.drop_ins.append(name)
        self.container.systemctl("daemon-reload")

    def start(self, check: bool = True) -> int:
        """``systemctl start``: with Type=notify it returns once the service said READY=1 (or failed)."""
        return self.container.systemctl("start", UNIT, check=check).returncode

    def stop(self) -> None:
        self.container.systemctl("stop", UNIT)

    def main_pid(self) -> int:
        return int(self.container.prop("MainPID"))

    def usec(self, prop: str) -> int:
        """A ``...TimestampMonotonic`` property in microseconds (CLOCK_MONOTONIC, the same clock as here)."""
        return int(self.container.prop(prop))

    def reset(self) -> None:
        self.container.systemctl("stop", UNIT, check=False)
        self.container.systemctl("reset-failed", UNIT, check=False)
        if self.drop_ins:
            self.container.run("rm", "-rf", DROP_INS)
            self.container.systemctl("daemon-reload")
            self.drop_ins.clear()
        self.configure()


def lines_with(lines: Iterator[str] | list[str], text: str) -> list[str]:
    return [line for line in lines if text in line]
