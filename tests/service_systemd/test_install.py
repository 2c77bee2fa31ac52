"""scripts/install.sh run for real on a booted Debian (twice, by scripts/test-service.sh)."""

from __future__ import annotations

from pathlib import Path

from systemd_container import SERVICE_TESTS, UNIT, Container

pytestmark = SERVICE_TESTS

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_service_user_is_a_system_user_in_video_and_plugdev(container: Container):
    entry = container.run("getent", "passwd", "edgepose").stdout.strip().split(":")
    assert int(entry[2]) < 1000  # a system user
    assert entry[5:] == ["/var/lib/edgepose", "/usr/sbin/nologin"]
    groups = container.run("id", "-nG", "edgepose").stdout.split()
    assert {"edgepose", "video", "plugdev"} <= set(groups)


def test_the_venv_runs_edgepose(container: Container):
    done = container.run("/opt/edgepose/venv/bin/edgepose", "--version")
    version = (CHECKOUT / "edgepose" / "__init__.py").read_text().split("__version__ = ", 1)[1].split()[0]
    assert version.strip("\"'") in done.stdout + done.stderr


def test_the_unit_and_the_udev_rule_are_the_checkouts_and_enabled(container: Container):
    assert container.read("/etc/systemd/system/edgepose.service") == (CHECKOUT / "systemd" / UNIT).read_text()
    rule = "/etc/udev/rules.d/99-edgepose-coral.rules"
    assert container.read(rule) == (CHECKOUT / "systemd" / "99-edgepose-coral.rules").read_text()
    assert container.systemctl("is-enabled", UNIT).stdout.strip() == "enabled"


def test_without_udev_the_rule_step_says_so_instead_of_failing(container: Container):
    assert not container.exists("/usr/bin/udevadm") and not container.exists("/bin/udevadm")
    first = container.read("/root/install-1.log")
    assert "no udevadm (a container?): the rule applies once udev runs" in first
    assert "==> done" in first


def test_the_second_run_keeps_the_config_and_the_password_file(container: Container):
    second = container.read("/root/install-2.log")
    assert "keeping the existing /etc/edgepose/config.yaml" in second
    assert "keeping the existing /etc/edgepose/mqtt_password" in second
    assert "==> done" in second
    # What the config held after both runs, before the tests replaced it: the operator's edit.
    assert container.read("/root/config-after-install.yaml").endswith("# edited after the first install\n")


def test_the_password_file_is_root_only(container: Container):
    owner, mode = container.run("stat", "-c", "%U %a", "/etc/edgepose/mqtt_password").stdout.split()
    assert (owner, mode) == ("root", "600")


def test_the_enabled_unit_started_at_boot(container: Container):
    """scripts/test-service.sh saved `systemctl show` right after booting, before any test ran."""
    at_boot = dict(
        line.split("=", 1) for line in container.read("/root/edgepose-at-boot.txt").splitlines() if "=" in line
    )
    assert at_boot["ActiveState"] == "active", at_boot.get("Result")
    assert at_boot["SubState"] == "running"
    assert at_boot["NRestarts"] == "0"
