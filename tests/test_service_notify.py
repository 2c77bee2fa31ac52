"""sd_notify against a real NOTIFY_SOCKET opened by the test, with real ``edgepose run`` children."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from edgepose.service.notify import Notifier, socket_address, watchdog_interval
from tests.service_kit import NotifyListener, spawn, stop_child, wait_until

WATCHDOG_S = 1.0


@pytest.fixture
def listener(tmp_path: Path):
    sock = NotifyListener(tmp_path / "notify.sock")
    yield sock
    sock.close()


def notify_env(listener: NotifyListener) -> dict[str, str]:
    return {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_ready_after_first_frame_watchdog_while_frames_flow_stopping_on_sigterm(listener, tmp_path, squat_path):
    out = tmp_path / "poses.jsonl"
    args = ["--source", str(squat_path), "--set", "source.loop=true", "--sink", f"jsonl:{out}"]
    proc, stderr = spawn(args, tmp_path, notify_env(listener))
    try:
        ready = listener.wait_for("READY", "1")
        # READY only once a frame went all the way through: the document is already written.
        assert count_lines(out) >= 1, "READY=1 came before the first frame was processed"
        before_ready = [m for m in listener.snapshot() if m.mono < ready.mono]
        assert not any("WATCHDOG" in m.fields for m in before_ready), "watchdog pinged before READY"
        time.sleep(2.5 * WATCHDOG_S)
        pings = [m for m in listener.with_key("WATCHDOG", "1") if m.mono > ready.mono]
        # A tick is a quarter of the interval: about 10 pings in 2.5 intervals; systemd needs one per interval.
        assert len(pings) >= 5, f"only {len(pings)} watchdog pings in {2.5 * WATCHDOG_S} s of frames"
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(pings)]
        assert max(gaps) < WATCHDOG_S, f"pings {max(gaps):.2f} s apart, longer than the watchdog interval"
        statuses = [m.fields["STATUS"] for m in listener.with_key("STATUS") if m.mono > ready.mono]
        assert any(" fps, 1 person in view" in s for s in statuses), statuses

        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, stderr.read_text()
        took = time.monotonic() - sent
        assert took < 5.0 + 1.0, f"stop took {took:.1f} s, more than service.shutdown_timeout"
        stopping = listener.wait_for("STOPPING", "1", timeout=2)
        assert "SIGTERM" in stopping.fields.get("STATUS", "")
        assert not [m for m in listener.with_key("WATCHDOG") if m.mono > stopping.mono], "pinged after STOPPING"
        log = stderr.read_text()
        assert "stopping: SIGTERM received" in log
        assert "threads still running" not in log
        # The file sink was closed cleanly: every line is a complete document.
        for line in out.read_text().splitlines():
            json.loads(line)
    finally:
        stop_child(proc)


@pytest.mark.slow
def test_watchdog_pings_stop_within_one_interval_when_the_pipeline_stalls(listener, tmp_path, squat_path):
    """A real stall: the child's stdout is a pipe the test stops reading, so the sink write blocks.

    That is what a stuck camera or a hung invoke look like from the watchdog's side: frames stop
    being processed while the process stays alive. The pings must stop, and SIGTERM must still end
    the process within the shutdown timeout although the pipeline thread never returns.
    """
    args = [
        "--source",
        str(squat_path),
        "--set",
        "source.loop=true",
        "--set",
        "service.shutdown_timeout=1",
        "--sink",
        "stdout",
    ]
    proc, stderr = spawn(args, tmp_path, notify_env(listener), stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        listener.wait_for("READY", "1")
        deadline = time.monotonic() + 1.5 * WATCHDOG_S
        while time.monotonic() < deadline:  # frames flow while the test reads
            proc.stdout.readline()
        assert len(listener.with_key("WATCHDOG", "1")) >= 3
        # Stop reading: the pipe (64 KiB, a few dozen documents) fills and the pipeline blocks in write().
        wait_until(
            lambda: time.monotonic() - listener.with_key("WATCHDOG", "1")[-1].mono > 2 * WATCHDOG_S,
            timeout=20,
            what="the watchdog pings to stop",
        )
        pings = listener.with_key("WATCHDOG", "1")

        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        took = time.monotonic() - sent
        log = stderr.read_text()
        assert took < 1.0 + 1.5, f"a stuck pipeline delayed the stop by {took:.1f} s"
        assert code == 1, log  # forced: the pipeline never finished its frame
        assert "did not stop within service.shutdown_timeout" in log
        # Where it was stuck, so a stop that times out can be told apart: writing to the full pipe.
        where = log.split("the pipeline thread was at", 1)[1]
        assert "edgepose/sinks/" in where and "write" in where, log
        listener.wait_for("STOPPING", "1", timeout=2)

        # When did the pipeline last make progress? The last complete document is the last frame
        # whose write finished; its capture time bounds the moment of the last progress from below.
        rest = proc.stdout.read().decode(errors="replace").splitlines()
        last_doc = None
        for line in rest:
            try:
                last_doc = json.loads(line)
            except json.JSONDecodeError:
                break  # the write the pipeline was blocked in
        assert last_doc is not None
        late = pings[-1].wall - last_doc["ts"]
        # Pings stop within one interval of the last progress. The document's ts is its capture time,
        # which precedes the progress by the frame's wait in the slot and its processing (two frame
        # times at most; up to ~0.1 s on a loaded 2-core machine), hence the margin.
        assert late < WATCHDOG_S + 0.4, f"last ping {late:.2f} s after the last processed frame was captured"
    finally:
        stop_child(proc)


def test_nothing_sent_and_nothing_failing_without_notify_socket(tmp_path, squat_path):
    """Without NOTIFY_SOCKET the service runs the same, silently: no socket, no warning."""
    proc, stderr = spawn(["--source", str(squat_path), "--set", "source.loop=true", "--max-frames", "20"], tmp_path)
    assert proc.wait(60) == 0
    log = stderr.read_text()
    assert "done: 20 frames processed" in log
    assert "notify" not in log.lower() and "Traceback" not in log

    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.watchdog() is False
    assert notifier._sock is None  # not even a socket was created


def test_abstract_namespace_socket_receives_messages():
    name = f"edgepose-test-{os.getpid()}-{time.monotonic_ns()}"
    listener = NotifyListener(abstract=name)
    try:
        notifier = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready("loaded")
        assert notifier.extend_timeout(1.5)
        assert listener.wait_for("READY", "1", timeout=2).fields["STATUS"] == "loaded"
        assert listener.wait_for("EXTEND_TIMEOUT_USEC", timeout=2).fields["EXTEND_TIMEOUT_USEC"] == "1500000"
        notifier.close()
    finally:
        listener.close()


def test_a_vanished_socket_never_raises_and_logs_once(tmp_path, caplog):
    path = tmp_path / "gone.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.close()
    path.unlink()
    notifier = Notifier(env={"NOTIFY_SOCKET": str(path)})
    with caplog.at_level(logging.WARNING, logger="edgepose.service.notify"):
        results = [notifier.watchdog() for _ in range(5)]
    assert results == [False] * 5
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),  # the unit's WatchdogSec=30s
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),  # meant for this process
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # inherited from a parent: not ours
        ({"WATCHDOG_USEC": "0"}, None),  # watchdog off
        ({"WATCHDOG_USEC": "soon"}, None),  # garbage is ignored, not fatal
        ({}, None),  # not under systemd
    ],
)
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env, pid=4242) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("@abstract", b"\0abstract"),
        ("vsock:2:1234", None),  # a transport this implementation does not speak: ignored with a warning
        ("", None),
    ],
)
def test_socket_address(value, expected):
    assert socket_address(value) == expected
