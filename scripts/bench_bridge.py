#!/usr/bin/env python3
"""Bridge catch-up: how fast a Pi's Mosquitto forwards what it queued during a WAN outage.

    python scripts/bench_bridge.py                     # 20000 pose messages (~1.4 kB) queued
    python scripts/bench_bridge.py --messages 5000 --json

Two real Mosquitto processes on loopback: the device broker runs the shipped
``config/mosquitto-bridge.conf.example`` (TLS to the central one, QoS 1, persistence), as in
tests/test_bridge.py. The central broker is stopped, ``--messages`` pose documents are published
to the device broker at QoS 1 (each acknowledged), the central broker is started again, and the
time from its start until a subscriber there (a kept session) has every message is the catch-up.
Also: the device broker's publish rate while queueing, and its persistence file's size.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet_docs import pose_document  # noqa: E402
from tests.mosquitto import Collector, Mosquitto, make_certs  # noqa: E402
from tests.mosquitto_bridge import DeviceBroker, wait_until  # noqa: E402


def run(messages: int, timeout: float) -> dict:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    work = Path(tempfile.mkdtemp(prefix="edgepose-bridge-"))
    central = Mosquitto(work / "central", tls=make_certs(work / "certs")).start()
    device = DeviceBroker(work / "device", central, max_queued_messages=max(messages * 2, 1000)).start()
    collector = Collector(central, ["edgepose/+/cam0/poses"], client_id="central-sub", clean=False)
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="edgepose-pi-1")
    pub.max_inflight_messages_set(100)
    pub.connect("127.0.0.1", device.port)
    pub.loop_start()
    template = json.dumps(pose_document("pi-1", "cam0", 0, 0.0), separators=(",", ":"))
    template = template.replace('"frame":0,"ts":0.0', '"frame":%d,"ts":%.6f')
    try:
        pub.publish("edgepose/pi-1/cam0/poses", (template % (0, time.time())).encode(), qos=1).wait_for_publish(10)
        if not wait_until(lambda: len(collector.messages) == 1, 30):
            raise RuntimeError("the bridge did not forward the first message")
        central.stop()
        t0 = time.monotonic()
        infos = [
            pub.publish("edgepose/pi-1/cam0/poses", (template % (i, time.time())).encode(), qos=1)
            for i in range(1, messages + 1)
        ]
        for info in infos:
            info.wait_for_publish(timeout)
        queued_s = time.monotonic() - t0
        # SIGUSR1: the broker writes its database now; its size is what the queue costs on disk.
        db = work / "device" / "mosquitto.db"
        device.proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: db.exists() and db.stat().st_size > messages * 100, 30)
        time.sleep(0.5)
        db_bytes = db.stat().st_size if db.exists() else None
        central.start()
        t1 = time.monotonic()
        done = wait_until(lambda: len({m.payload for m in collector.messages}) >= messages + 1, timeout, step=0.01)
        catch_up = time.monotonic() - t1
        received = len({m.payload for m in collector.messages}) - 1
        return {
            "messages": messages,
            "payload_bytes": len(template % (0, 0.0)),
            "queue_publish_per_s": round(messages / queued_s, 1),
            "caught_up": done,
            "received": received,
            "duplicates": len(collector.messages) - 1 - received,
            "catch_up_s": round(catch_up, 2),
            "catch_up_per_s": round(received / catch_up, 1) if catch_up > 0 else None,
            "device_db_bytes_queued": db_bytes,
        }
    finally:
        pub.disconnect()
        pub.loop_stop()
        collector.close()
        device.stop()
        central.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=300.0, help="longest wait for any phase (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.messages, args.timeout)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
