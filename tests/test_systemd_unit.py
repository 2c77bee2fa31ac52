"""systemd/edgepose.service passes ``systemd-analyze verify`` and says why each line is there."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.paths import ROOT

UNIT = ROOT / "systemd" / "edgepose.service"
RULES = ROOT / "systemd" / "99-edgepose-coral.rules"
INSTALLED_EXEC = "/opt/edgepose/venv/bin/edgepose"


def directives(text: str) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every directive; unit files allow repeated keys, so no ConfigParser."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";", "[")) and "=" in stripped:
            key, value = stripped.split("=", 1)
            out.append((number, key, value))
    return out


def values(key: str) -> list[str]:
    return [v for _, k, v in directives(UNIT.read_text()) if k == key]


def test_systemd_analyze_verify(tmp_path):
    """The unit as installed names /opt/edgepose/venv/bin/edgepose, which does not exist on a test
    machine: verify a copy whose ExecStart points at this interpreter, and require no other output.
    The unmodified unit must fail for that one reason only."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_EXEC} run -c /etc/edgepose/config.yaml" in text
    copy = tmp_path / "edgepose.service"
    copy.write_text(text.replace(f"ExecStart={INSTALLED_EXEC}", f"ExecStart={sys.executable} -m edgepose"))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr

    if not Path(INSTALLED_EXEC).exists():
        original = subprocess.run([analyze, "verify", str(UNIT)], capture_output=True, text=True, check=False)
        problems = [line for line in (original.stdout + original.stderr).splitlines() if line.strip()]
        assert problems == [f"edgepose.service: Command {INSTALLED_EXEC} is not executable: No such file or directory"]


def test_every_directive_has_a_comment_saying_why():
    lines = UNIT.read_text().splitlines()
    for number, key, _ in directives(UNIT.read_text()):
        above = lines[number - 2].strip() if number >= 2 else ""
        assert above.startswith("#"), f"line {number} ({key}=) has no comment above it"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("Type", "notify"),  # READY=1 from the daemon after the first frame
        ("NotifyAccess", "main"),
        ("WatchdogSec", "30s"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "78"),  # a bad config must not restart-loop
        ("User", "edgepose"),
        ("SupplementaryGroups", "video plugdev"),
        ("StateDirectory", "edgepose"),
        ("CacheDirectory", "edgepose"),
        ("ConfigurationDirectory", "edgepose"),
        ("LoadCredential", "mqtt_password:/etc/edgepose/mqtt_password"),  # what the config loader reads
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("DevicePolicy", "closed"),
    ],
)
def test_required_settings(key, expected):
    assert values(key) == [expected]


def test_devices_for_camera_and_coral_are_allowed():
    allowed = {v.split()[0] for v in values("DeviceAllow")}
    # /dev/video*, /dev/media*, /dev/dma_heap/*, /dev/vchiq, /dev/bus/usb/*, /dev/apex_*
    assert {"char-video4linux", "char-media", "char-dma_heap", "char-vchiq", "char-usb_device", "char-apex"} <= allowed
    assert values("PrivateDevices") == [] and values("MemoryDenyWriteExecute") == []  # would break camera / JIT


def test_numba_cache_is_in_the_cache_directory_and_stop_outlasts_the_shutdown_timeout():
    from edgepose.config.sections import ServiceConfig

    assert "NUMBA_CACHE_DIR=/var/cache/edgepose/numba" in values("Environment")
    stop = float(values("TimeoutStopSec")[0].removesuffix("s"))
    assert stop > ServiceConfig().shutdown_timeout


def test_udev_rule_covers_both_coral_usb_ids():
    rules = [line for line in RULES.read_text().splitlines() if line and not line.startswith("#")]
    ids = {(r.split('ATTRS{idVendor}=="')[1][:4], r.split('ATTRS{idProduct}=="')[1][:4]) for r in rules}
    assert ids == {("1a6e", "089a"), ("18d1", "9302")}
    assert all('GROUP="plugdev"' in r and 'SUBSYSTEM=="usb"' in r for r in rules)


def test_unit_parses_as_ini():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser.sections() == ["Unit", "Service", "Install"]
