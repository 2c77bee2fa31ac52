"""examples/fleet_poses.py runs against a real Mosquitto and prints documents, gaps and a summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.builders.paths import ROOT
from tests.fleet_docs import encode, pose_document
from tests.mosquitto import HOST, Mosquitto
from tests.mosquitto_bridge import Publisher, wait_until


def test_fleet_poses_example(tmp_path):
    broker = Mosquitto(tmp_path / "broker").start()
    out_path = tmp_path / "out.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "fleet_poses.py"),
                "--set",
                f"mqtt.host={HOST}",
                "--set",
                f"mqtt.port={broker.port}",
                "--devices",
                "pi-*",
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Ctrl-C as at a terminal, even when this test runs in the background (SIGINT ignored).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        # The broker logs each SUBSCRIBE: publish once the example's client has subscribed.
        assert wait_until(lambda: "Received SUBSCRIBE from edgepose-client-" in broker.log(), 60), broker.log()
        pub = Publisher(broker.port, "fleet")
        pub.publish("edgepose/pi-1/available", b"online")
        for frame in (0, 1, 4):
            pub.publish("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", frame, 100.0 + frame)))
        pub.close()
        assert wait_until(lambda: "frame 4" in out_path.read_text(), 30), out_path.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        broker.stop()
    text = out_path.read_text()
    assert proc.returncode == 0, err
    assert "pi-1 is online" in text
    assert "pi-1/cam0 frame 4: 3 people" in text
    assert "pi-1/cam0: 2 frame(s) missing after 1" in text
    assert "pi-1/cam0: 3 received, 2 missing" in text
