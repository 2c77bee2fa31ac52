"""A device Mosquitto bridged to a central one, both real processes on loopback ports.

:class:`DeviceBroker` runs the shipped ``config/mosquitto-bridge.conf.example`` the way
``scripts/install.sh --bridge`` installs it: a main ``mosquitto.conf`` shaped like Debian's
(persistence, ``include_dir``) with the example in its ``conf.d``, placeholders filled in and the
few lines a test must change (ports, paths, retry and ``$SYS`` intervals, the queue limit) rewritten.
The central broker is a :class:`tests.mosquitto.Mosquitto` with a TLS listener, so the bridge's TLS
settings are exercised as shipped.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.mosquitto import HOST, MOSQUITTO, Mosquitto, free_port, require_mosquitto

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "mosquitto-bridge.conf.example"


def render_bridge(text: str, *, device: str, central_host: str) -> str:
    """The example with its placeholders filled in (what install.sh writes)."""
    return text.replace("@DEVICE@", device).replace("@CENTRAL_HOST@", central_host)


def rewrite(text: str, option: str, value: str) -> str:
    """Replace the one line that sets ``option``; raise if the example no longer has it."""
    pattern = re.compile(rf"^{re.escape(option)} .*$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"the bridge example sets {option!r} {len(pattern.findall(text))} times, expected once")
    return pattern.sub(f"{option} {value}", text)


class DeviceBroker(Mosquitto):
    """The Pi's Mosquitto with the bridge to ``central`` (a TLS broker), persistence in ``directory``."""

    def __init__(
        self, directory: Path, central: Mosquitto, *, device: str = "pi-1", max_queued_messages: int | None = None
    ) -> None:
        require_mosquitto()
        if central.tls is None:
            raise ValueError("the bridge example connects over TLS: give the central broker a TLS listener")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = None
        self.log_path = directory / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        conf_d = directory / "conf.d"
        conf_d.mkdir(exist_ok=True)
        text = render_bridge(EXAMPLE.read_text(), device=device, central_host=HOST)
        text = rewrite(text, "listener", f"{self.port} {HOST}")
        text = rewrite(text, "address", f"{HOST}:{central.port}")
        text = rewrite(text, "bridge_cafile", str(central.tls.ca))
        text = rewrite(text, "restart_timeout", "1")  # retry the central broker every second
        text = rewrite(text, "sys_interval", "1")  # the dropped counter is published each second
        if max_queued_messages is not None:
            text = rewrite(text, "max_queued_messages", str(max_queued_messages))
        (conf_d / "edgepose-bridge.conf").write_text(text)
        self.config_path = directory / "mosquitto.conf"
        self.config_path.write_text(
            "\n".join(
                [
                    "user root",
                    "persistence true",
                    f"persistence_location {directory}/",
                    f"log_dest file {self.log_path}",
                    "log_type all",
                    f"include_dir {conf_d}",
                ]
            )
            + "\n"
        )

    def kill(self) -> None:
        """A power cut: SIGKILL, so only what autosave already wrote survives."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.stop()


def sys_value(port: int, topic: str, timeout: float = 15.0) -> int:
    """One retained ``$SYS`` figure of the broker on ``port`` (they are published every sys_interval)."""
    got: list[int] = []
    done = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)

    def on_message(c, u, msg) -> None:  # type: ignore[no-untyped-def]
        got.append(int(msg.payload))
        done.set()

    client.on_connect = lambda c, u, f, r, p: c.subscribe(topic)
    client.on_message = on_message
    client.connect(HOST, port)
    client.loop_start()
    try:
        if not done.wait(timeout):
            raise RuntimeError(f"{topic} was not published within {timeout} s")
        return got[0]
    finally:
        client.disconnect()
        client.loop_stop()


class Publisher:
    """A QoS 1 publisher that returns only once the broker has acknowledged each message."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect(HOST, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, timeout: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise RuntimeError(f"the broker did not acknowledge a message on {topic} within {timeout} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(predicate, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


__all__ = ["MOSQUITTO", "DeviceBroker", "Publisher", "render_bridge", "rewrite", "sys_value", "wait_until"]
