"""A peer on the broker's port that is no working broker is named once, then retried with the backoff.

Each fake broker is a real TCP server on loopback that misbehaves one way after accepting: it closes
the connection at once, keeps it open and silent (no CONNACK), or answers the CONNECT with bytes that
are not MQTT (an HTTP server's reply, a packet of the reserved type 0). The transport must say what
happened in one warning (repeats go to debug), count each failed attempt, and wait between attempts
as README's MQTT section documents: the n-th wait is between half and all of
``min(reconnect_max, reconnect_min * 2**n)``, never below ``reconnect_min``. The waits are read from
the log lines (each says the next one) and checked against the jitter the seeded ``rng`` draws: no
clock is read.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator

import pytest

from edgepose.backoff import Backoff
from edgepose.config import load_config
from edgepose.mqtt.connect import Will
from edgepose.mqtt.transport import MqttTransport
from tests.builders.mqtt import HTTP_400, FakeBroker

RECONNECT_MIN, RECONNECT_MAX = 0.05, 0.4
KEEPALIVE = 5  # mqtt.keepalive's minimum: how long a silent peer is waited for
SEED = 26


@pytest.fixture
def fake_broker(request: pytest.FixtureRequest) -> Iterator[FakeBroker]:
    broker = FakeBroker(*request.param)
    yield broker
    broker.stop()


def transport_for(port: int, protocol: str) -> MqttTransport:
    config = load_config(
        None,
        [
            "mqtt.host=127.0.0.1",
            f"mqtt.port={port}",
            f"mqtt.protocol='{protocol}'",
            f"mqtt.keepalive={KEEPALIVE}",
            f"mqtt.reconnect_min={RECONNECT_MIN}",
            f"mqtt.reconnect_max={RECONNECT_MAX}",
        ],
    )
    return MqttTransport(config.mqtt, "edgepose-test", Will("edgepose/test/status", "offline"), rng=random.Random(SEED))


def fail_times(transport: MqttTransport, n: int, timeout: float) -> None:
    """Run ``transport`` until ``n`` attempts failed (``timeout`` bounds a test that would hang)."""
    transport.start()
    deadline = time.monotonic() + timeout
    while transport.counters()["connect_failures"] < n and time.monotonic() < deadline:
        time.sleep(0.02)
    transport.close()


def failure_lines(caplog: pytest.LogCaptureFixture, cause: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "edgepose.mqtt.transport" and cause in r.getMessage()]


def documented_waits(n: int) -> list[float]:
    """The waits the backoff gives for ``n`` attempts with the jitter the seeded rng draws."""
    rng, backoff = random.Random(SEED), Backoff(RECONNECT_MIN, RECONNECT_MAX)
    return [backoff.delay(k, jitter=rng.random()) for k in range(n)]


# (fake broker mode and reply, the cause the warning names, attempts to wait for)
CASES = {
    "closes at once": (("close",), "closed the connection before its CONNACK", 5),
    "answers HTTP": (("send", HTTP_400), "answered the CONNECT with bytes that are not MQTT", 5),
    "sends a packet of type 0": (("send", b"\x00\x00"), "answered the CONNECT with bytes that are not MQTT", 5),
    "never sends CONNACK": (("silent",), "sent no CONNACK within mqtt.keepalive, 5 s", 2),
}
PARAMS = [
    pytest.param(mode, cause, n, protocol, id=f"{name}, MQTT {protocol}", marks=pytest.mark.slow if n < 5 else ())
    for name, (mode, cause, n) in CASES.items()
    for protocol in ("3.1.1", "5")
]


@pytest.mark.parametrize(("fake_broker", "cause", "attempts", "protocol"), PARAMS, indirect=["fake_broker"])
def test_a_misbehaving_broker_is_named_once_then_retried_with_the_backoff(
    fake_broker: FakeBroker, cause: str, attempts: int, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edgepose.mqtt.transport")
    transport = transport_for(fake_broker.port, protocol)
    fail_times(transport, attempts, timeout=attempts * (KEEPALIVE + RECONNECT_MAX) + 20)
    failures = transport.counters()["connect_failures"]
    assert failures >= attempts and fake_broker.accepted >= attempts
    lines = failure_lines(caplog, cause)
    warnings = [r.getMessage() for r in lines if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{fake_broker.port}" in warnings[0] and f"MQTT {protocol}" in warnings[0]
    assert "check mqtt.host, mqtt.port, mqtt.protocol" in warnings[0]
    assert all(r.levelno == logging.DEBUG for r in lines[1:])  # the repeats
    assert len(lines) == failures  # each failed attempt said, once
    waits = [float(re.search(r"next attempt in ([0-9.]+) s", r.getMessage())[1]) for r in lines]  # type: ignore[index]
    for n, wait in enumerate(waits):  # README: between half and all of the cap, never below reconnect_min
        cap = min(RECONNECT_MAX, RECONNECT_MIN * 2**n)
        assert max(RECONNECT_MIN, cap / 2) - 0.005 <= wait <= cap + 0.005, (n, wait)
    assert [f"{w:.2f}" for w in waits] == [f"{w:.2f}" for w in documented_waits(len(waits))]


@pytest.mark.parametrize(
    ("fake_broker", "trouble"),
    [(("send", HTTP_400), "not MQTT"), (("close",), None)],
    indirect=["fake_broker"],
    ids=["not MQTT: a setting to fix", "closed: an outage"],
)
def test_only_a_peer_that_is_not_mqtt_is_trouble(fake_broker: FakeBroker, trouble: str | None) -> None:
    """``trouble`` (what /healthz says) is for what retrying alone will not mend: a port that is not MQTT.
    A peer that closes may be a broker restarting or full, which the buffer rides out."""
    transport = transport_for(fake_broker.port, "3.1.1")
    transport.start()
    deadline = time.monotonic() + 20
    while transport.counters()["connect_failures"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    said = transport.trouble
    transport.close()
    assert (said is None) if trouble is None else (trouble in (said or ""))


# A CONNACK refusing us (not authorized): 3.1.1 return code 5; MQTT 5 reason 0x87, no properties.
REFUSALS = {"3.1.1": b"\x20\x02\x00\x05", "5": b"\x20\x03\x00\x87\x00"}


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_refusing_connack_is_said_once_as_a_refusal(protocol: str, caplog: pytest.LogCaptureFixture) -> None:
    """The disconnect paho reports after a refusing CONNACK is that refusal, not a peer closing early."""
    caplog.set_level(logging.DEBUG, logger="edgepose.mqtt.transport")
    broker = FakeBroker("send", REFUSALS[protocol])
    try:
        fail_times(transport_for(broker.port, protocol), 3, timeout=20)
    finally:
        broker.stop()
    refusals = failure_lines(caplog, "refused the connection: Not authorized")
    assert len(refusals) >= 3
    assert [r.levelno for r in refusals].count(logging.WARNING) == 1
    assert not failure_lines(caplog, "before its CONNACK")
