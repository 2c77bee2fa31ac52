"""scripts/preflight.sh (run by `make` before it creates the venv): each gap is one line and its fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.paths import ROOT

PREFLIGHT = ROOT / "scripts" / "preflight.sh"

pytestmark = pytest.mark.pi  # also in the emulated Raspberry Pi OS (make test-pi)


def preflight(python: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PREFLIGHT), python],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_a_machine_with_everything_passes_quietly():
    proc = preflight(sys.executable)
    assert proc.returncode == 0, proc.stderr
    assert "edgepose:" not in proc.stderr.replace("edgepose: note:", "")


def test_python_without_the_venv_module_names_the_apt_package(tmp_path: Path):
    """Debian and Raspberry Pi OS Lite ship python3 without ensurepip: shadow it as missing."""
    (tmp_path / "ensurepip.py").write_text("raise ImportError('No module named ensurepip')\n")
    proc = preflight(sys.executable, {"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 69
    assert "cannot create virtual environments" in proc.stderr
    assert "sudo apt install python3-venv" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_or_old_python_exits_69_with_what_to_install(tmp_path: Path):
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.9.2' && exit 0\nexit 1\n")
    old.chmod(0o755)
    proc = preflight(str(old))
    assert proc.returncode == 69 and "Python 3.9.2 is too old" in proc.stderr
    proc = preflight(str(tmp_path / "no-such-python"))
    assert proc.returncode == 69 and "sudo apt install python3 python3-venv" in proc.stderr
