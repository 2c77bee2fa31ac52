#!/usr/bin/env python3
"""Bytes on the wire per pose message: MQTT 3.1.1, MQTT 5 with properties, and MQTT 5 with a topic alias.

    python scripts/bench_mqtt5.py                      # 500 messages of a 3-person frame
    python scripts/bench_mqtt5.py --people 0 --json    # an empty frame (the overhead matters most)

A real Mosquitto on loopback; the daemon's MQTT sink publishes through a relay
(tests/wire.py) that counts every byte the client sends, so the figure is the whole PUBLISH
packet (fixed header, topic, properties, payload) averaged over ``--messages``, after the
connection's status messages. Also printed: the payload alone, so the overhead is the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgepose.config import load_config  # noqa: E402
from edgepose.mqtt.topics import Topics  # noqa: E402
from edgepose.sinks.mqtt import MqttSink  # noqa: E402
from edgepose.stats import RunStats  # noqa: E402
from tests.builders.mqtt import META, frame  # noqa: E402
from tests.mosquitto import Mosquitto  # noqa: E402
from tests.wire import CountingRelay  # noqa: E402

MODES = {
    "3.1.1": ["mqtt.protocol='3.1.1'"],
    "5 (properties, no alias)": ["mqtt.protocol='5'", "mqtt.poses_expiry=60", "mqtt.topic_alias=false"],
    "5 (properties, topic alias)": ["mqtt.protocol='5'", "mqtt.poses_expiry=60", "mqtt.topic_alias=true"],
}


def wait(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def measure(broker: Mosquitto, settings: list[str], messages: int, people: int, device: str) -> dict:
    relay = CountingRelay(broker.port)
    config = load_config(
        None,
        [
            f"device_id={device}",
            "mqtt.host=127.0.0.1",
            f"mqtt.port={relay.port}",
            "mqtt.stats_interval=0",
            "mqtt.qos_poses=1",
            "mqtt.publish_count=false",
            f"mqtt.buffer_messages={messages + 10}",
            *settings,
        ],
    )
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait(lambda: sink.counters()["connected"], "the connection")
    time.sleep(0.2)  # the status messages sent on connecting are not counted
    before = relay.sent
    payload = 0
    for i in range(messages):
        output = frame(i, people)
        payload += len(output.line)
        sink.write(output)
    wait(lambda: sink.counters()["published"] >= messages, "the acknowledgements")
    sent = relay.sent - before
    sink.close()
    relay.close()
    return {
        "topic": Topics.from_config(config).poses,
        "bytes_per_message": sent / messages,
        "payload_per_message": payload / messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--device", default="pi-livingroom-01")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker").start()
        try:
            rows = {mode: measure(broker, s, args.messages, args.people, args.device) for mode, s in MODES.items()}
        finally:
            broker.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    topic = next(iter(rows.values()))["topic"]
    print(f"{args.messages} QoS 1 pose messages, {args.people} people, topic {topic} ({len(topic)} bytes)")
    for mode, row in rows.items():
        overhead = row["bytes_per_message"] - row["payload_per_message"]
        print(f"  {mode:30s} {row['bytes_per_message']:8.1f} B/message on the wire, {overhead:5.1f} B over the payload")


if __name__ == "__main__":
    main()
