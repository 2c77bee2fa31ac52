"""scripts/install.sh --bridge: the bridge config rendered into /etc/mosquitto/conf.d, in a temporary root."""

from __future__ import annotations

import socket

import pytest

from tests.builders.install import install, tree
from tests.mosquitto_bridge import EXAMPLE


def test_dry_run_names_the_bridge_step_and_touches_nothing(tmp_path):
    before = tree(tmp_path)
    result = install("--dry-run", "--root", str(tmp_path), "--skip-venv", "--bridge", "central.example.org")
    assert result.returncode == 0, result.stderr
    assert tree(tmp_path) == before
    assert "==> Mosquitto bridged to central.example.org" in result.stdout
    assert f"would write {tmp_path}/etc/mosquitto/conf.d/edgepose-bridge.conf (mode 0644)" in result.stdout
    assert "skipped (--root): apt-get install -y --no-install-recommends mosquitto" in result.stdout


def test_install_writes_the_rendered_example_and_uninstall_removes_it(tmp_path):
    result = install("--root", str(tmp_path), "--skip-venv", "--bridge", "central.example.org:8884")
    assert result.returncode == 0, result.stderr
    conf = tmp_path / "etc/mosquitto/conf.d/edgepose-bridge.conf"
    text = conf.read_text()
    device = socket.gethostname().split(".")[0]
    assert "address central.example.org:8884\n" in text
    assert f"connection edgepose-{device}\n" in text
    assert "@CENTRAL_HOST@" not in text and "@DEVICE@" not in text
    # Everything else is the example, line for line.
    assert len(text.splitlines()) == len(EXAMPLE.read_text().splitlines())
    again = install("--root", str(tmp_path), "--skip-venv", "--bridge", "central.example.org:8884")
    assert again.returncode == 0, again.stderr
    assert f"{conf} is up to date" in again.stdout
    moved = install("--root", str(tmp_path), "--skip-venv", "--bridge", "other.example.org")
    assert moved.returncode == 0, moved.stderr
    assert "address other.example.org:8883\n" in conf.read_text()
    assert conf.with_name("edgepose-bridge.conf.bak").read_text() == text  # the previous one is kept
    removed = install("--uninstall", "--root", str(tmp_path))
    assert removed.returncode == 0, removed.stderr
    assert not conf.exists()


@pytest.mark.parametrize(
    "host",
    [
        "central host",  # a space
        "central.example.org;reboot",  # shell and sed metacharacters never reach the file
        "-central",  # an option, not a host
        "central.example.org:port",  # the port is a number
    ],
)
def test_a_bad_host_is_refused_with_64(tmp_path, host):
    result = install("--dry-run", "--root", str(tmp_path), "--bridge", host)
    assert result.returncode == 64
    assert "is not a host name or address" in result.stderr
