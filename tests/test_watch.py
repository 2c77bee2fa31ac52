"""``edgepose watch``: the view's model on fed messages, and the command against a real Mosquitto
with a real daemon publishing to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgepose.tools.watch.state import WatchState, message_rate, on_connection, on_message, render, view_lines
from tests.builders.cli import end_child, run_cli
from tests.builders.documents import parse_documents
from tests.builders.paths import ROOT
from tests.mosquitto import Mosquitto, free_port

PREFIX = "edgepose/dev1"


def pose_document(frame: int, ids: list[int | None]) -> bytes:
    kp = [[10.0 + i, 20.0, 0.9 if i < 12 else 0.1] for i in range(17)]
    poses = [{"id": i, "score": 0.8, "box": [1.0, 2.0, 30.0, 40.0], "keypoints": kp} for i in ids]
    doc = {
        "schema": "edgepose.poses/1",
        "device": "dev1",
        "camera": "cam0",
        "frame": frame,
        "ts": 1.0,
        "width": 640,
        "height": 480,
        "model": "m",
        "accelerator": "cpu",
        "timing_ms": {"preprocess": 1.0, "inference": 7.25, "decode": 0.5, "total": 9.0},
        "poses": poses,
    }
    return json.dumps(doc).encode()


def test_view_shows_availability_stats_and_people() -> None:
    state = on_connection(WatchState(PREFIX, "localhost:1883"), True, "connected")
    state = on_message(state, f"{PREFIX}/available", b"online", 0.0)
    stats = {
        "camera_fps": 24.9,
        "processed_fps": 24.5,
        "inference_ms_p50": 7.1,
        "source_retries": 1,
        "mqtt": {"dropped": 3, "reconnects": 2},
    }  # the sink's counters, as the MQTT sink nests them
    state = on_message(state, f"{PREFIX}/stats", json.dumps(stats).encode(), 0.0)
    for i in range(11):  # 10 intervals of 0.1 s: 10 messages per second
        state = on_message(state, f"{PREFIX}/cam0/poses", pose_document(i, [4, 9]), 1.0 + i * 0.1)
    text = render(state, 2.0)
    assert "device: ONLINE" in text
    assert "camera 24.9, processed 24.5" in text
    assert "inference p50 7.1 ms" in text
    assert "dropped 3" in text and "reconnects 2, source retries 1" in text
    assert "[cam0] frame 10" in text and "people 2" in text
    assert "10.0 msg/s" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("  ") and "[" in line]
    assert [(r[0], r[1], r[2]) for r in rows] == [("4", "0.80", "12/17"), ("9", "0.80", "12/17")]
    assert message_rate(state.cameras["cam0"], 2.0) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("topic", "payload", "expect"),
    [
        ("available", b"offline", "device: OFFLINE"),  # the device's last will
        ("stats", b"not json", "unreadable 1"),  # garbage is counted, not fatal
        ("cam0/poses", b'{"poses": 3}', "unreadable 1"),  # a document of the wrong shape
        ("stats", b"[1, 2]", "unreadable 1"),  # JSON, but not an object
    ],
)
def test_view_survives_whatever_the_broker_holds(topic: str, payload: bytes, expect: str) -> None:
    state = on_message(WatchState(PREFIX, "b:1"), f"{PREFIX}/{topic}", payload, 0.0)
    assert expect in render(state, 0.0)


def test_old_poses_are_marked_stale_and_lost_connection_is_shown() -> None:
    state = on_message(WatchState(PREFIX, "b:1"), f"{PREFIX}/cam0/poses", pose_document(1, [None]), 0.0)
    state = on_connection(on_connection(state, True, "connected"), False, "lost: keepalive timeout")
    text = render(state, 20.0)
    assert "NO POSES FOR 20 s" in text
    assert "NOT CONNECTED (lost: keepalive timeout; retrying)" in text
    assert render(on_connection(state, True, "connected"), 20.0).count("watcher reconnects 1") == 1


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A real Mosquitto on a free local port, for this test only."""
    mosquitto = Mosquitto(tmp_path / "broker", persistence=False).start()
    yield mosquitto.port
    mosquitto.stop()


@pytest.fixture
def daemon(broker: int, squat_path: Path) -> Iterator[int]:
    """``edgepose run --sink mqtt`` on the looping sample image, publishing to the test broker."""
    args = [
        sys.executable,
        "-m",
        "edgepose",
        "run",
        "--sink",
        "mqtt",
        "--source",
        str(squat_path),
        "--threads",
        "1",
        "--set",
        f"mqtt.port={broker}",
        "--set",
        "mqtt.host=127.0.0.1",
        "--set",
        "source.loop=true",
        "--set",
        "device_id=dev1",
        "--set",
        "mqtt.stats_interval=0.5",
        "--set",
        "mqtt.max_rate=20",
    ]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield broker
    end_child(proc)


def test_watch_shows_a_running_daemon(daemon: int) -> None:
    proc = run_cli(
        "watch",
        "--port",
        str(daemon),
        "--host",
        "127.0.0.1",
        "--device",
        "dev1",
        "--duration",
        "5",
        "--interval",
        "0.5",
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    # Not a terminal: one line per change, never the same fact twice (the looping image does not change)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"edgepose watch  edgepose/dev1  on 127.0.0.1:{daemon}"
    assert len(lines) == len(set(lines)), proc.stdout
    assert "broker: connected" in lines
    assert "device: ONLINE" in lines
    assert any(line.startswith("model: movenet_single_pose_lightning_ptq on cpu") for line in lines)
    assert "[cam0] people 1" in lines
    # the sink's counters from the stats topic
    assert "drops: dropped 0, failed 0, reconnects 0, source retries 0" in lines
    assert not any(line.startswith(("fps:", "messages:")) for line in lines), "no figures that change every second"


def test_the_view_as_lines_prints_each_change_once() -> None:
    state = on_connection(WatchState(PREFIX, "broker:1883"), True, "connected")
    facts, printed = view_lines(state, {}, 0.0)
    assert printed == ("broker: connected",)  # only what is known: no device, model or poses yet
    steps = [
        (on_message(state, f"{PREFIX}/cam0/poses", pose_document(1, [1]), 1.0), 1.0, ("[cam0] people 1",)),
        (on_message(state, f"{PREFIX}/cam0/poses", pose_document(2, [1]), 1.5), 1.5, ()),  # same people: no line
        (None, 12.0, ("[cam0] no poses for more than 5 s",)),  # time alone changes it
        (None, 13.0, ()),  # ... once
    ]
    for new, now, expected in steps:
        state = new or state
        facts, printed = view_lines(state, facts, now)
        assert printed == expected, (now, printed)


def test_watch_json_prints_schema_documents(daemon: int) -> None:
    proc = run_cli(
        "watch",
        "--json",
        "--port",
        str(daemon),
        "--host",
        "127.0.0.1",
        "--device",
        "dev1",
        "--count",
        "5",
        "--duration",
        "20",
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    docs = parse_documents(proc.stdout)
    assert len(docs) == 5
    assert all(d["device"] == "dev1" and len(d["poses"]) == 1 for d in docs)


def test_watch_without_a_broker_says_so() -> None:
    proc = run_cli("watch", "--port", str(free_port()), "--host", "127.0.0.1", "--duration", "1", timeout=30)
    assert proc.returncode == 69
    assert "could not connect to the broker at 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr


def watch_child(*args: str, ignore_sigint: bool = False) -> subprocess.Popen:
    """``edgepose watch ARGS`` as a child with its stderr piped; optionally started as a shell starts
    a background job (``edgepose watch &``), with SIGINT ignored."""
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen(
        [sys.executable, "-m", "edgepose", "watch", *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def read_until(proc: subprocess.Popen, needle: str) -> list[str]:
    """stderr lines up to the first holding ``needle`` (fails if the child ends first)."""
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip("\n"))
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never appeared; stderr: {seen}")


def test_watch_json_without_a_broker_says_it_is_connecting_and_why_it_fails() -> None:
    port = free_port()
    proc = watch_child("--json", "--port", str(port), "--host", "127.0.0.1")  # no --duration: until stopped
    try:
        lines = read_until(proc, "refused")
        assert lines[0] == f"edgepose watch: connecting to the broker at 127.0.0.1:{port}"
        assert f"edgepose watch: cannot connect: connection to 127.0.0.1:{port} refused" in lines[-1]
        assert "retrying" in lines[-1]
    finally:
        end_child(proc)


def test_watch_in_the_background_still_ends_on_sigint(broker: int) -> None:
    proc = watch_child("--json", "--port", str(broker), "--host", "127.0.0.1", ignore_sigint=True)
    try:
        read_until(proc, "connected to the broker")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        end_child(proc)
