"""A real stall: the network camera stops sending; systemd's watchdog kills edgepose and restarts it.

The source is an MJPEG stream over HTTP from ``stall_camera.py``, run in the container as its own
transient service. Pausing it leaves edgepose's connection open and silent, and reopening hangs
too, so no frame reaches the pipeline: the daemon stops pinging ``WATCHDOG=1``, and after
``WatchdogSec=`` systemd aborts it (SIGABRT) and restarts it (``Restart=on-failure``). The broker
publishes the daemon's will, ``available`` ``offline``; the restarted daemon says ``online``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from systemd_container import PREFIX, SERVICE_TESTS, UNIT, Broker, Container, Service, message, seconds

pytestmark = SERVICE_TESTS

CAMERA_UNIT = "edgepose-test-camera.service"
CAMERA_PORT = 8554
PAUSE = "/run/edgepose-test-camera.pause"
STREAM = f"http://127.0.0.1:{CAMERA_PORT}/stream.mjpg"


@pytest.fixture
def camera(container: Container) -> Iterator[str]:
    container.run("rm", "-f", PAUSE)
    container.systemctl("reset-failed", CAMERA_UNIT, check=False)
    cursor = container.cursor()
    container.run(
        "systemd-run",
        f"--unit={CAMERA_UNIT}",
        "--property=Environment=PYTHONUNBUFFERED=1",
        "/opt/edgepose/venv/bin/python",
        "/root/edgepose/tests/service_systemd/stall_camera.py",
        "/srv/shared/videos/walking_crowd_720p.mp4",
        str(CAMERA_PORT),
        PAUSE,
    )
    container.wait_journal(f"on {STREAM}", 60, "-u", CAMERA_UNIT, after=cursor)
    yield STREAM
    container.run("rm", "-f", PAUSE)
    container.systemctl("stop", CAMERA_UNIT, check=False)


def entry_usec(entries: list[dict[str, object]], text: str) -> int:
    """CLOCK_MONOTONIC (the same clock here and in the container) of the first entry with ``text``."""
    return next(int(str(e["__MONOTONIC_TIMESTAMP"])) for e in entries if text in message(e))


def test_a_stalled_camera_is_killed_by_the_watchdog_and_restarted(
    container: Container, service: Service, broker: Broker, camera: str, figures: dict[str, float]
):
    service.configure(source={"uri": camera, "loop": False, "realtime": False})
    watchdog_s = seconds(container.prop("WatchdogUSec"))
    with broker.subscribe(f"{PREFIX}/available") as sub:
        service.start()
        sub.wait("online", lambda m: m.payload == "online", 30)
        first_pid = service.main_pid()
        restarts = int(container.prop("NRestarts"))
        cursor = container.cursor()

        container.run("touch", PAUSE)  # the camera goes silent; the service is left alone
        paused = time.monotonic()  # CLOCK_MONOTONIC, the same clock as the container's journal
        container.wait_journal("Watchdog timeout", watchdog_s + 90, "-u", UNIT, after=cursor)
        killed = sub.wait("offline (the will)", lambda m: m.payload == "offline", 30)
        container.run("rm", "-f", PAUSE)  # the camera is back: the restarted service finds it

        container.wait_for(
            "the restarted service to be active",
            lambda: (
                container.show("NRestarts", "ActiveState") == {"NRestarts": str(restarts + 1), "ActiveState": "active"}
            ),
            120,
        )
        back = sub.wait("online again", lambda m: m.payload == "online" and m.at > killed.at, 30)
        assert back.at > killed.at
        assert service.main_pid() != first_pid

    lines = container.journal("-u", UNIT, after=cursor)
    text = "\n".join(lines)
    assert f"Watchdog timeout (limit {watchdog_s:g}s)!" in text
    assert "Killing process" in text and "SIGABRT" in text
    assert "Failed with result 'watchdog'" in text
    assert "Scheduled restart job, restart counter is at" in text
    # The daemon said why before systemd acted: the source, then the pipeline, went unhealthy.
    failed = next(line for line in lines if line.startswith("edgepose.sources.retry: source cam0 failed"))
    # PYTHONFAULTHANDLER=1: the abort left every thread's stack in the journal.
    assert "Fatal Python error: Aborted" in text and "Thread 0x" in text, text
    # `journalctl -p warning` shows the daemon's warning and systemd's verdict, not the stacks.
    warnings = container.journal("-u", UNIT, "-p", "warning", after=cursor)
    assert failed in warnings and any(
        line.startswith("Watchdog timeout") or "Watchdog timeout" in line for line in warnings
    ), warnings
    assert not [line for line in warnings if line.startswith(("Thread 0x", "  File "))], warnings
    # Frames flow again after the restart.
    with broker.subscribe(f"{PREFIX}/cam0/poses") as poses:
        document = json.loads(poses.wait("a pose document", lambda m: True, 30).payload)
        assert document["camera"] == "cam0"

    entries = container.journal_entries("-u", UNIT, after=cursor)
    fired = entry_usec(entries, "Watchdog timeout")
    figures["stall_to_watchdog_s"] = fired / 1e6 - paused
    figures["watchdog_to_active_again_s"] = (service.usec("ActiveEnterTimestampMonotonic") - fired) / 1e6
