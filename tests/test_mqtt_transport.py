"""The MQTT transport on its own, against a real Mosquitto: a new document on a new topic is one
call, counted by kind and buffered through an outage; a retained state is resent after a reconnect."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgepose.mqtt.buffer import Message
from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.mqtt import META, frame, make_config, wait_connected
from tests.mosquitto import Collector, Mosquitto
from tests.service_kit import wait_until


def test_a_document_on_a_new_topic_is_one_call_counted_by_kind_and_kept_through_an_outage(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.buffer_messages=100")
    events = f"{Topics.from_config(config).prefix}/cam0/events"
    collector = Collector(broker, [events], client_id="events-watcher", clean=False)
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    assert sink.publish_document(events, {"event": "enter", "n": 0}, kind="events", qos=1)
    assert collector.wait_for(lambda c: len(c.on(events)) == 1)
    broker.stop()
    for n in range(1, 6):  # offline: buffered, in order
        assert sink.publish_document(events, {"event": "enter", "n": n}, kind="events", qos=1)
    broker.start()
    wait_connected(sink)
    assert collector.wait_for(lambda c: len(c.on(events)) >= 6)
    sink.write(frame(0))
    sink.close()
    counters = sink.counters()
    assert [m.json()["n"] for m in collector.on(events)] == list(range(6))
    assert counters["published_events"] == 6
    assert counters["published"] == 1  # the headline figure stays the poses'
    assert counters["dropped"] == 0
    collector.close()


def test_an_oversized_document_is_refused_and_counted(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.max_payload=1024")
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    assert not sink.publish_document("edgepose/testpi/cam0/events", {"x": "y" * 2000}, kind="events", qos=1)
    sink.close()
    assert sink.counters()["dropped_oversize"] == 1 and sink.dropped == 1


def test_a_retained_state_keeps_its_latest_value_and_is_resent_after_a_reconnect(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "forgetful", persistence=False).start()  # forgets retained messages on a restart
    try:
        _retained_state_round(broker)
    finally:
        broker.stop()


def _retained_state_round(broker: Mosquitto) -> None:
    config = make_config(broker)
    topic = "edgepose/testpi/cam0/zones/door"
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    sink.transport.set_state(topic, b"occupied", qos=1)
    sink.transport.set_state(topic, b"empty", qos=1)
    first = Collector(broker, [topic])
    assert first.wait_for(lambda c: [m.payload for m in c.on(topic)][-1:] == [b"empty"])
    first.close()
    broker.stop()
    broker.start()
    wait_connected(sink)
    late = Collector(broker, [topic])
    assert late.wait_for(lambda c: len(c.on(topic)) >= 1)
    sink.close()
    received = late.on(topic)[0]
    assert (received.payload, received.retain) == (b"empty", True)
    late.close()


def test_status_messages_are_not_counted(broker: Mosquitto) -> None:
    """Availability, meta and retained states are status: neither published nor dropped figures move."""
    config = make_config(broker)
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    sink.transport.set_state("edgepose/testpi/x", b"1", qos=1)
    sink.close()
    counters = sink.counters()
    assert counters["published"] == 0 and counters["dropped"] == 0
    assert not [k for k in counters if k.startswith("published_")]


def test_message_kind_marks_status() -> None:
    assert Message("t", b"x").kind == "poses"
    assert not Message("t", b"x", kind="").kind


REPS = ("analysis.enabled=true", "analysis.behaviours.reps.enabled=true")


def test_a_command_sent_as_soon_as_the_sink_listens_arrives(broker: Mosquitto) -> None:
    """``listening`` waits for the SUBACK, not only the CONNACK: before it a live command is lost."""
    config = make_config(broker, *REPS)
    commands = Topics.from_config(config).reps_reset
    commander = Collector(broker, [commands])
    for _ in range(10):  # the SUBACK races the command: a few rounds make a wrong wait show
        sink = MqttSink(config, RunStats())
        sink.commands.register("cam0", lambda track: True)
        sink.open(META)
        deadline = time.monotonic() + 10
        while not sink.listening and time.monotonic() < deadline:
            time.sleep(0)  # polled closely: no slack to hide a race
        commander.client.publish(commands, b"", qos=1).wait_for_publish(5)
        assert commander.wait_for(lambda _, sink=sink: sink.counters()["reps_resets"] == 1)
        sink.close()
    commander.close()


def test_a_subscription_the_broker_refuses_is_logged_and_the_sink_never_listens(tmp_path: Path, caplog) -> None:
    """A broker that lets the daemon publish but not subscribe: poses still go out; the log says
    which topic's messages (the reps reset commands) will not arrive."""
    broker = Mosquitto(tmp_path / "dynsec", no_subscribe=("edgepose", "pw")).start()
    try:
        config = make_config(broker, *REPS, "mqtt.username=edgepose", "mqtt.password=pw")
        sink = MqttSink(config, RunStats())
        sink.commands.register("cam0", lambda track: True)
        with caplog.at_level("WARNING", logger="edgepose.mqtt.transport"):
            sink.open(META)
            wait_until(lambda: sink.transport.subscriptions_refused, 10, "the SUBACKs")
            assert sink.counters()["connected"] == 1 and not sink.listening
            sink.write(frame(0))
            sink.close()
        assert sink.published == 1 and sink.dropped == 0
        refused = [r.getMessage() for r in caplog.records if "refused the subscription" in r.getMessage()]
        assert any(
            "subscription to edgepose/testpi/+/reps/reset (Unspecified error; does the broker's ACL" in m
            for m in refused
        ), refused  # MQTT 3.1.1's one failure code
    finally:
        broker.stop()


class ManualClock:
    """A monotonic clock the test moves: every connection is short until it is moved on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])  # Mosquitto closes the older connection in both, no reason
def test_two_clients_with_one_client_id_are_named_as_the_cause_and_logged_once(
    broker: Mosquitto, caplog, protocol: str
) -> None:
    """Two devices with one device_id (a copied SD card) take the broker session in turns for ever: after
    a few short connections the log says why, once, and the sink's trouble (health)
    names it until a connection lasts."""
    config = make_config(broker, f"mqtt.protocol={protocol!r}")
    clock = ManualClock()
    with caplog.at_level("DEBUG", logger="edgepose.mqtt.transport"):
        first, second = MqttSink(config, RunStats(), clock=clock), MqttSink(config, RunStats(), clock=clock)
        first.open(META)
        second.open(META)
        wait_until(lambda: first.trouble() and second.trouble(), 20, "both to name the other client")
        wait_until(lambda: first.counters()["reconnects"] >= 6, 20, "more takeovers")
        second.close()
        wait_until(lambda: first.listening, 20, "the first alone again")
        clock.now += 10  # its connection lasts now
        assert first.trouble() is None
        first.close()
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "another client" in r.getMessage()]
    assert len(said) == 2, said  # once per sink
    assert "connecting as 'edgepose-testpi'" in said[0] and "device_id or mqtt.client_id" in said[0]
    lost = [r for r in caplog.records if r.levelname == "WARNING" and "lost the connection" in r.getMessage()]
    assert len(lost) <= 2 * 2  # before each sink knew (the third short one says why): not one per loss
