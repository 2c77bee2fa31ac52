"""scripts/install.sh: shellcheck clean, --dry-run changes nothing, and a real install into a temporary root."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.builders.install import SCRIPT, install, tree
from tests.builders.paths import ROOT


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("extra", [[], ["--edgetpu"], ["--uninstall", "--purge"]])
def test_dry_run_prints_every_step_and_touches_nothing(tmp_path, extra):
    (tmp_path / "etc" / "edgepose").mkdir(parents=True)
    (tmp_path / "etc" / "edgepose" / "config.yaml").write_text("device_id: mine\n")
    before = tree(tmp_path)
    result = install("--dry-run", "--root", str(tmp_path), *extra)
    assert result.returncode == 0, result.stderr
    assert tree(tmp_path) == before
    out = result.stdout
    assert "dry run: nothing will be changed" in out
    assert "$ " not in out, "a command was executed during a dry run"
    if "--uninstall" in extra:
        assert f"would run: rm -rf {tmp_path}/etc/edgepose" in out
        return
    for expected in (
        "skipped (--root): apt-get install -y --no-install-recommends python3 python3-venv",
        f"would run: python3 -m venv --system-site-packages {tmp_path}/opt/edgepose/venv",
        f"keeping the existing {tmp_path}/etc/edgepose/config.yaml",
        f"would run: install -m 0600 /dev/null {tmp_path}/etc/edgepose/mqtt_password",
        f"would run: install -m 0644 {ROOT}/systemd/99-edgepose-coral.rules {tmp_path}/etc/udev/rules.d/",
        f"would run: install -m 0644 {ROOT}/systemd/edgepose.service {tmp_path}/etc/systemd/system/edgepose.service",
        f"would run: systemctl --root={tmp_path} enable edgepose.service",
    ):
        assert expected in out, f"missing step: {expected}\n{out}"
    assert ("libedgetpu1-std" in out) == ("--edgetpu" in extra)


def test_install_update_uninstall_purge_in_a_temporary_root(tmp_path):
    etc = tmp_path / "etc"
    result = install("--root", str(tmp_path), "--skip-venv")
    assert result.returncode == 0, result.stderr
    config = etc / "edgepose" / "config.yaml"
    assert config.read_text() == (ROOT / "config" / "edgepose.yaml").read_text()
    assert (etc / "edgepose" / "mqtt_password").stat().st_mode & 0o777 == 0o600
    assert (etc / "edgepose" / "mqtt_password").read_text() == ""
    unit = etc / "systemd" / "system" / "edgepose.service"
    assert unit.read_text() == (ROOT / "systemd" / "edgepose.service").read_text()
    assert (etc / "udev" / "rules.d" / "99-edgepose-coral.rules").exists()
    wants = etc / "systemd" / "system" / "multi-user.target.wants" / "edgepose.service"
    assert str(wants.readlink()) == "/etc/systemd/system/edgepose.service"

    # Idempotent, and a local config is never overwritten.
    config.write_text("device_id: mine\n")
    again = install("--root", str(tmp_path), "--skip-venv")
    assert again.returncode == 0, again.stderr
    assert config.read_text() == "device_id: mine\n"
    assert "is up to date" in again.stdout and "keeping the existing" in again.stdout

    removed = install("--uninstall", "--root", str(tmp_path))
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists() and not wants.exists()
    assert config.read_text() == "device_id: mine\n", "--uninstall must keep the config"

    purged = install("--uninstall", "--purge", "--root", str(tmp_path))
    assert purged.returncode == 0, purged.stderr
    assert not (etc / "edgepose").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--purge"], 64, "--purge goes with --uninstall"),
        (["--frobnicate"], 64, "unknown option --frobnicate"),
        (["--root"], 64, "--root needs a directory"),
        (["--root", "/nonexistent/edgepose-root"], 66, "is not a directory"),
    ],
)
def test_bad_arguments(args, code, message):
    result = install(*args)
    assert result.returncode == code
    assert message in result.stderr
