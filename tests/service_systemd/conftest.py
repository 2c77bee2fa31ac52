"""Fixtures for edgepose under the container's real systemd (``make test-service``).

``service`` puts the unit back the way the installation left it after every test: stopped, its
failure state reset, the test's runtime drop-ins removed and the base config restored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from systemd_container import Broker, Container, Service

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def container() -> Container:
    pid = os.environ.get("EDGEPOSE_SERVICE_PID", "")
    if not pid:
        pytest.skip("runs against the booted container of make test-service")
    return Container(int(pid))


@pytest.fixture(scope="session")
def base_config() -> dict[str, Any]:
    return yaml.safe_load((HERE / "config.yaml").read_text())


@pytest.fixture(scope="session")
def broker(container: Container) -> Broker:
    container.wait_for("mosquitto", lambda: container.prop("ActiveState", unit="mosquitto.service") == "active", 30)
    observer = container.read("/root/observer-password").strip()
    password = container.read("/etc/edgepose/mqtt_password").strip()
    return Broker(container, observer, password)


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
