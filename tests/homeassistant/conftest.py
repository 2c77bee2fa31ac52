"""Fixtures for edgepose against a real Home Assistant (``make test-ha``, marked ``ha``).

One Home Assistant and one Mosquitto serve the whole session; each test runs its daemons under a
``device_id`` of its own, so its entities are its own. The tests are skipped unless
``EDGEPOSE_HA_ROOT`` names the root scripts/test-ha.sh built.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.homeassistant.home_assistant import HomeAssistant
from tests.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[2]
LEVELS = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")


@pytest.fixture(scope="session")
def ha_root() -> Path:
    root = os.environ.get("EDGEPOSE_HA_ROOT", "")
    if not root:
        pytest.skip("runs against the Home Assistant of make test-ha")
    return Path(root)


@pytest.fixture(scope="session")
def ha_broker(ha_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("ha-broker")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def home_assistant(ha_root: Path, ha_broker: Mosquitto) -> Iterator[HomeAssistant]:
    ha = HomeAssistant(ha_root, blueprints=REPO / "examples" / "blueprints").start()
    try:
        ha.onboard(ha_broker.port)
        yield ha
    finally:
        ha.stop(keep=os.environ.get("EDGEPOSE_HA_KEEP") == "1")


class Daemon:
    """``edgepose run -c <config>`` as a child: the config is rewritten before each :meth:`start`."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.directory = directory
        self.config = config
        self.path = directory / "edgepose.yaml"
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.stopped = False  # stopped or killed on purpose

    def start(self) -> Daemon:
        self.stopped = False
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.runs += 1
        log = (self.directory / f"daemon-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgepose", "run", "-c", str(self.path)],
            cwd=REPO,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        return self

    def check(self) -> None:
        """Fails with the end of its log if the daemon exited while a test expected it to run."""
        if self.proc is not None and self.proc.poll() is not None and not self.stopped:
            raise AssertionError(f"the daemon exited ({self.proc.returncode}):\n{self.log()[-2000:]}")

    def reload(self) -> None:
        """SIGHUP after rewriting the config."""
        self.path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.directory.glob("daemon-*.log")))


@pytest.fixture
def daemons(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Daemon]]:
    """The test's daemons, stopped after it."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop()


def ha_problems(text: str, device: str) -> list[str]:
    """Home Assistant's WARNING and ERROR records (with their continuation lines) that mention
    ``device`` (its topics, node id or entity ids all carry it)."""
    out: list[str] = []
    record: list[str] = []
    for line in [*text.splitlines(), "0000-00-00 00:00:00.000 INFO end"]:
        if re.match(r"^\d{4}-\d\d-\d\d ", line):
            if record and LEVELS.match(record[0]) and any(device in r for r in record):
                out.append("\n".join(record))
            record = [line]
        else:
            record.append(line)
    return out
