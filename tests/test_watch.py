"""``edgepose watch``: the view's model on fed messages, and the command against a real Mosquitto
with a real daemon publishing to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgepose.watch.state import WatchState, message_rate, on_connection, on_message, render
from tests.conftest import ROOT, end_child, parse_documents, run_cli
from tests.mosquitto import Mosquitto, free_port

PREFIX = "edgepose/dev1"


def pose_document(frame: int, ids: list[int | None]) -> bytes:
    kp = [[10.0 + i, 20.0, 0.9 if i < 12 else 0.1] for i in range(17)]
    poses = [{"id": i, "score": 0.8, "box": [1.0, 2.0, 30.0, 40.0], "keypoints": kp} for i in ids]
    doc = {"schema": "edgepose.poses/1", "device": "dev1", "camera": "cam0", "frame": frame, "ts": 1.0,
           "width": 640, "height": 480, "model": "m", "accelerator": "cpu",
           "timing_ms": {"preprocess": 1.0, "inference": 7.25, "decode": 0.5, "total": 9.0},
           "poses": poses}  # fmt: skip
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
    args = [sys.executable, "-m", "edgepose", "run", "--sink", "mqtt", "--source", str(squat_path),
            "--threads", "1", "--set", f"mqtt.port={broker}", "--set", "mqtt.host=127.0.0.1",
            "--set", "source.loop=true", "--set", "device_id=dev1", "--set", "mqtt.stats_interval=0.5",
            "--set", "mqtt.max_rate=20"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield broker
    end_child(proc)


def test_watch_shows_a_running_daemon(daemon: int) -> None:
    proc = run_cli("watch", "--port", str(daemon), "--host", "127.0.0.1", "--device", "dev1", "--duration", "5",
                   "--interval", "0.5", timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().split("\n\n")[-1]  # not a terminal: one snapshot per refresh
    assert "broker: connected" in last
    assert "device: ONLINE" in last
    assert "fps: camera " in last and "fps: - " not in last
    assert "[cam0] frame" in last and "people 1" in last
    assert "movenet_single_pose_lightning_ptq on cpu" in last
    assert "dropped 0" in last and "reconnects 0" in last  # the sink's counters from the stats topic


def test_watch_json_prints_schema_documents(daemon: int) -> None:
    proc = run_cli("watch", "--json", "--port", str(daemon), "--host", "127.0.0.1", "--device", "dev1",
                   "--count", "5", "--duration", "20", timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    docs = parse_documents(proc.stdout)
    assert len(docs) == 5
    assert all(d["device"] == "dev1" and len(d["poses"]) == 1 for d in docs)


def test_watch_without_a_broker_says_so() -> None:
    proc = run_cli("watch", "--port", str(free_port()), "--host", "127.0.0.1", "--duration", "1", timeout=30)
    assert proc.returncode == 69
    assert "could not connect to the broker at 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr
