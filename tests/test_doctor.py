"""``edgepose doctor`` on this machine, broker reachable or not (real Mosquitto). What it says about a
missing camera or Edge TPU is checked where they are missing (``tests/environment.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.tools.doctor import Places, edgetpu, render, run_checks
from tests.builders.cli import run_cli
from tests.environment import without_camera, without_edgetpu, without_libedgetpu
from tests.mosquitto import Mosquitto, free_port


def by_id(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def doctor_json(*args: str) -> dict:
    out = run_cli("doctor", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def checks_with_a_broker(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], int]:
    broker = Mosquitto(tmp_path_factory.mktemp("broker")).start()
    try:
        return by_id(doctor_json("--set", "mqtt.host=127.0.0.1", "--set", f"mqtt.port={broker.port}")), broker.port
    finally:
        broker.stop()


@without_camera
def test_doctor_says_there_is_no_camera(checks_with_a_broker) -> None:
    checks, _port = checks_with_a_broker  # no picamera2, no /dev/video*
    assert checks["camera"] == {
        "id": "camera",
        "status": "warn",
        "detail": "no camera found",
        "hint": "connect one, or run on files: edgepose run --source FILE",
    }
    assert checks["camera.v4l2"]["detail"] == "no /dev/video* devices"


@without_edgetpu
@without_libedgetpu
def test_doctor_says_there_is_no_edgetpu(checks_with_a_broker) -> None:
    checks, _port = checks_with_a_broker  # informational, since the config asks for the CPU
    assert checks["edgetpu.devices"]["detail"].startswith("no Edge TPU found")
    assert checks["edgetpu"]["detail"] == "no Edge TPU: models run on the CPU"
    assert checks["edgetpu.runtime"]["detail"] == "libedgetpu.so.1 is not installed"


def test_doctor_reports_this_machine_with_a_broker(checks_with_a_broker) -> None:
    checks, port = checks_with_a_broker
    assert checks["mqtt.broker"]["status"] == "ok"
    assert checks["mqtt.broker"]["detail"] == f"broker 127.0.0.1:{port} is reachable (TCP)"
    assert "camera" in checks and "edgetpu" in checks  # what they say depends on the machine: see above
    assert checks["runtime"]["status"] == "ok" and checks["runtime"]["detail"].startswith("ai_edge_litert")
    assert checks["numpy"]["status"] == "ok" and checks["numba"]["status"] == "ok"
    # the configured model pair is found in ../shared and its checksums match the manifest
    assert checks["models.cpu"]["status"] == "ok" and "checksum matches" in checks["models.cpu"]["detail"]
    assert checks["models.edgetpu"]["status"] == "ok"


def test_doctor_reports_an_unreachable_broker() -> None:
    port = free_port()  # nothing listens here
    report = doctor_json("--set", "mqtt.host=127.0.0.1", "--set", f"mqtt.port={port}", "--set", "sinks=[mqtt]")
    check = by_id(report)["mqtt.broker"]
    assert check["status"] == "fail"  # mqtt is a configured sink, so this one matters
    assert check["detail"] == f"broker 127.0.0.1:{port} is not reachable: Connection refused"
    assert report["summary"]["fail"] >= 1


@without_camera
def test_doctor_text_is_readable_and_exits_0() -> None:
    out = run_cli("doctor", "--set", f"mqtt.port={free_port()}", "--set", "mqtt.host=127.0.0.1")
    assert out.returncode == 0
    assert "warn  camera             no camera found" in out.stdout
    assert "-> connect one" in out.stdout and "Traceback" not in out.stderr


@without_libedgetpu
def test_edgetpu_asked_for_but_missing_is_a_failure() -> None:
    config = load_config(None, ["model.accelerator=edgetpu"])
    checks = {c.id: c for c in run_checks(config)}
    assert checks["edgetpu.runtime"].status == "fail" and "libedgetpu1-std" in checks["edgetpu.runtime"].hint


def test_a_usb_coral_in_sysfs_is_reported_with_its_node(tmp_path: Path) -> None:
    from tests.builders.sysfs import fake_sysfs

    sys_usb, dev = fake_sysfs(tmp_path, {"2-1": ("18d1", "9302", 2, 7)})
    checks = edgetpu(load_config(None, []), Places(sys_usb, dev))
    device = next(c for c in checks if c.id == "edgetpu.device")
    assert device.detail == f"usb Edge TPU 18d1:9302 (usb) at {dev}/bus/usb/002/007: accessible"
    # present but the runtime is missing: that is a failure worth fixing, not information
    assert next(c for c in checks if c.id == "edgetpu.runtime").status == "fail"
    assert next(c for c in checks if c.id == "edgetpu").status == "fail"
    assert "fail" in render(checks)
