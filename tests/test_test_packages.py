"""``scripts/test-packages.sh``: the one list of system packages `make test` and CI install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test-packages.sh"


def fake_bin(tmp_path: Path, installed: set[str], uid: int) -> Path:
    """Stand-ins for dpkg-query (``installed`` are installed), id (``uid``) and apt-get (logs its args)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    listed = " ".join(sorted(installed))
    scripts = {
        "dpkg-query": f'for p in {listed}; do [ "$p" = "${{@: -1}}" ] && {{ echo "install ok installed"; exit 0; }}; '
        "done; exit 1",
        "id": f"echo {uid}",
        "apt-get": f'echo "$@" >> {log}',
        "systemctl": "exit 0",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=30)


def test_a_user_is_told_the_apt_line_and_the_suite_does_not_start(tmp_path):
    proc = run(tmp_path, fake_bin(tmp_path, {"ffmpeg", "chromium"}, uid=1000), "test")
    assert proc.returncode == 69
    assert "sudo apt-get install --no-install-recommends mosquitto mosquitto-clients shellcheck" in proc.stderr
    assert not (tmp_path / "apt.log").exists()


def test_root_installs_only_what_is_missing(tmp_path):
    proc = run(tmp_path, fake_bin(tmp_path, {"mosquitto", "mosquitto-clients", "chromium"}, uid=0), "test")
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends shellcheck ffmpeg"]


def test_nothing_missing_is_silent(tmp_path):
    everything = {"mosquitto", "mosquitto-clients", "shellcheck", "ffmpeg", "chromium"}
    proc = run(tmp_path, fake_bin(tmp_path, everything, uid=1000), "test")
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize("suite", ["pi", "service", "all"])
def test_ci_lists_include_the_emulation_packages(tmp_path, suite):
    proc = run(tmp_path, fake_bin(tmp_path, set(), uid=1000), suite)
    assert proc.returncode == 69
    assert "debootstrap" in proc.stderr
    assert ("qemu-user-static" in proc.stderr) == (suite != "service")
