"""End to end: ``edgepose run --sink mqtt`` as a real child process, a real Mosquitto, real clients.

The model runs on the shared squat image, looped so the child keeps publishing until it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents
from tests.builders.paths import ROOT
from tests.mosquitto import HOST, Collector, Mosquitto


def mqtt_args(broker: Mosquitto, device: str) -> list[str]:
    return [
        "--sink",
        "mqtt",
        "--set",
        f"device_id={device}",
        "--set",
        f"mqtt.host={HOST}",
        "--set",
        f"mqtt.port={broker.port}",
        "--threads",
        "1",
    ]


def test_sigkill_makes_the_broker_publish_the_last_will(broker: Mosquitto, squat_path: Path) -> None:
    available = "edgepose/killme/available"
    poses = "edgepose/killme/cam0/poses"
    collector = Collector(broker, [available, poses])
    cmd = [
        sys.executable,
        "-m",
        "edgepose",
        "run",
        "--source",
        str(squat_path),
        "--set",
        "source.loop=true",
        *mqtt_args(broker, "killme"),
    ]
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        running = collector.wait_for(lambda c: len(c.on(poses)) >= 5, timeout=60)
        assert running, child.stderr.read().decode() if child.poll() is not None else "no poses from the child"
        assert [m.payload for m in collector.on(available)] == [b"online"]
        child.send_signal(signal.SIGKILL)  # no chance to say goodbye: the broker speaks for it
        child.wait(timeout=10)
        assert collector.wait_for(lambda c: [m.payload for m in c.on(available)][-1:] == [b"offline"], timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    late = Collector(broker, [available])  # the will was retained
    assert late.wait_for(lambda c: len(c.on(available)) == 1)
    assert late.on(available)[0].payload == b"offline" and late.on(available)[0].retain
    collector.close()
    late.close()


def test_mosquitto_sub_receives_valid_documents(broker: Mosquitto, squat_path: Path) -> None:
    n = 10
    cmd = [
        "mosquitto_sub",
        "-h",
        HOST,
        "-p",
        str(broker.port),
        "-t",
        "edgepose/subpi/cam0/poses",
        "-q",
        "1",
        "-C",
        str(n),
        "-W",
        "60",
    ]
    sub = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while "Received SUBSCRIBE" not in broker.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    result = run_cli(
        "run",
        "--source",
        str(squat_path),
        "--set",
        "source.loop=true",
        "--max-frames",
        str(n),
        "--set",
        "mqtt.qos_poses=1",
        *mqtt_args(broker, "subpi"),
    )
    assert result.returncode == 0, result.stderr
    out, err = sub.communicate(timeout=30)
    assert sub.returncode == 0, err
    docs = parse_documents(out)  # each line validated against the schema
    assert [d["frame"] for d in docs] == list(range(n))
    assert all(d["device"] == "subpi" and len(d["poses"]) == 1 for d in docs)
    assert "mqtt: connected" in result.stderr and "0 dropped" in result.stderr
