"""Store-and-forward through the shipped bridge config, with two real Mosquitto processes.

The device broker runs ``config/mosquitto-bridge.conf.example`` (TLS to the central broker, QoS 1,
``cleansession false``, persistence); the central subscriber keeps a session there so it misses
nothing while the central broker itself is down. Every wait is bounded; none asserts a speed.
"""

from __future__ import annotations

import json

import pytest

from tests.mosquitto import Collector, Mosquitto, make_certs
from tests.mosquitto_bridge import EXAMPLE, DeviceBroker, Publisher, render_bridge, sys_value, wait_until

DEVICES = ("pi-a", "pi-b")


def pose(device: str, frame: int) -> bytes:
    return json.dumps({"schema": "edgepose.poses/1", "device": device, "camera": "cam0", "frame": frame}).encode()


def first_arrivals(frames: list[int]) -> list[int]:
    """The frames in the order they first arrived: QoS 1 is at least once, so a message the bridge
    resends after a restart (its PUBACK was lost with the connection) may arrive twice."""
    seen: set[int] = set()
    return [f for f in frames if not (f in seen or seen.add(f))]


def frames_by_device(collector: Collector) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {d: [] for d in DEVICES}
    with collector.lock:
        for m in collector.messages:
            if m.topic.endswith("/poses"):
                doc = m.json()
                out[doc["device"]].append(doc["frame"])
    return out


@pytest.fixture
def central(tmp_path):
    broker = Mosquitto(tmp_path / "central", tls=make_certs(tmp_path / "certs")).start()
    yield broker
    broker.stop()


def test_the_example_has_no_unfilled_placeholder_once_rendered():
    text = render_bridge(EXAMPLE.read_text(), device="pi-7", central_host="central.example.org")
    assert "@" not in text.replace("# ", "")
    assert "address central.example.org:8883" in text
    assert "connection edgepose-pi-7" in text


@pytest.mark.slow
def test_outage_and_device_restart_lose_nothing_and_keep_order(tmp_path, central):
    device = DeviceBroker(tmp_path / "device", central).start()
    collector = Collector(central, ["edgepose/+/cam0/poses"], client_id="central-sub", clean=False)
    publishers = {d: Publisher(device.port, f"edgepose-{d}") for d in DEVICES}
    sent = {d: 0 for d in DEVICES}

    def send(n: int) -> None:
        for _ in range(n):
            for d, publisher in publishers.items():
                publisher.publish(f"edgepose/{d}/cam0/poses", pose(d, sent[d]))
                sent[d] += 1

    try:
        send(5)  # the bridge is up: these go straight through
        assert wait_until(lambda: all(len(f) == 5 for f in frames_by_device(collector).values()), 30), device.log()
        central.stop()  # the WAN is gone
        send(100)
        # The Pi's broker restarts during the outage (an update, a reboot): the bridge's queue is on disk.
        for p in publishers.values():
            p.close()
        device.stop()
        device.start()
        publishers = {d: Publisher(device.port, f"edgepose-{d}") for d in DEVICES}
        send(100)
        central.start()  # the subscriber's session and the bridge's come back with it
        expected = {d: list(range(sent[d])) for d in DEVICES}

        def delivered() -> dict[str, list[int]]:
            return {d: first_arrivals(f) for d, f in frames_by_device(collector).items()}

        assert wait_until(lambda: {d: sorted(f) for d, f in delivered().items()} == expected, 60), (
            {d: len(f) for d, f in delivered().items()},
            device.log()[-3000:],
        )
        assert delivered() == expected  # in order per device
    finally:
        for p in publishers.values():
            p.close()
        collector.close()
        device.stop()


@pytest.mark.slow
def test_over_the_queue_limit_the_newest_are_dropped_and_counted_in_sys(tmp_path, central):
    limit = 40
    device = DeviceBroker(tmp_path / "device", central, max_queued_messages=limit).start()
    collector = Collector(central, ["edgepose/+/cam0/poses"], client_id="central-sub", clean=False)
    publisher = Publisher(device.port, "edgepose-pi-a")
    try:
        publisher.publish("edgepose/pi-a/cam0/poses", pose("pi-a", 0))
        assert wait_until(lambda: len(frames_by_device(collector)["pi-a"]) == 1, 30), device.log()
        central.stop()
        total = 1 + 3 * limit
        for frame in range(1, total):
            publisher.publish("edgepose/pi-a/cam0/poses", pose("pi-a", frame))  # the Pi's broker acks each
        central.start()
        # Wait until the bridge has forwarded its queue and the $SYS figure has settled.
        assert wait_until(lambda: len(frames_by_device(collector)["pi-a"]) > limit, 60), device.log()[-3000:]
        previous = -1
        for _ in range(30):
            received = frames_by_device(collector)["pi-a"]
            dropped = sys_value(device.port, "$SYS/broker/publish/messages/dropped")
            if dropped > 0 and len(received) + dropped == total and len(received) == previous:
                break
            previous = len(received)
        assert dropped > 0
        assert len(received) + dropped == total, (len(received), dropped)
        # What is kept is the oldest, in order; what goes is the newest (the queue refuses, it does not rotate).
        assert received == list(range(len(received)))
    finally:
        publisher.close()
        collector.close()
        device.stop()
