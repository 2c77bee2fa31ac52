"""Fixtures for edgepose under the container's real systemd (``make test-service``).

``service`` puts the unit back the way the installation left it after every test: stopped, its
failure state reset, the test's runtime drop-ins removed and the base config restored.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from systemd_container import UNIT, Container, Subscriber

HERE = Path(__file__).resolve().parent
CONFIG = "/etc/edgepose/config.yaml"
DROP_INS = "/run/systemd/system/edgepose.service.d"  # runtime drop-ins: gone at the next boot
PREFIX = "edgepose/svc"  # device_id svc in config.yaml


@pytest.fixture(scope="session")
def container() -> Container:
    pid = os.environ.get("EDGEPOSE_SERVICE_PID", "")
    if not pid:
        pytest.skip("runs against the booted container of make test-service")
    return Container(int(pid))


@pytest.fixture(scope="session")
def base_config() -> dict[str, Any]:
    return yaml.safe_load((HERE / "config.yaml").read_text())


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
            "mosquitto_sub", "-h", "localhost", "-u", "observer", "-P", self.observer_password,
            "-t", topic, "-C", "1", "-W", "3", "--retained-only", check=False,
        )  # fmt: skip
        return done.stdout.strip()


@pytest.fixture(scope="session")
def broker(container: Container) -> Broker:
    container.wait_for("mosquitto", lambda: container.prop("ActiveState", unit="mosquitto.service") == "active", 30)
    observer = container.read("/root/observer-password").strip()
    password = container.read("/etc/edgepose/mqtt_password").strip()
    return Broker(container, observer, password)


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


@pytest.fixture
def service(container: Container, base_config: dict[str, Any]) -> Iterator[Service]:
    svc = Service(container, base_config)
    svc.reset()
    yield svc
    svc.reset()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, float]]:
    """Measured times a test records (printed by scripts/test-service.sh; docs/service.md has them)."""
    values: dict[str, float] = {}
    yield values
    out = os.environ.get("EDGEPOSE_SERVICE_FIGURES", "")
    if out and values:
        with open(out, "a", encoding="utf-8") as f:
            for key, value in values.items():
                f.write(f"{request.node.name}\t{key}\t{value:.2f}\n")
