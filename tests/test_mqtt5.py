"""MQTT 5 on pose messages, against a real Mosquitto: expiry, content type and schema properties,
topic aliases (fewer bytes on the wire, the full topic for subscribers, safe across a reconnect)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgepose.config.sections import Config
from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from tests.builders.mqtt import frame, make_config, open_sink, wait_connected
from tests.mosquitto import HOST, Mosquitto
from tests.wire import CountingRelay


@dataclass
class Received5:
    topic: str
    frame: int
    properties: dict = field(default_factory=dict)


class Subscriber5:
    """An MQTT 5 subscriber that records each message's topic, frame and properties.

    ``client_id`` with ``keep=True`` keeps its session for an hour after it disconnects.
    """

    def __init__(self, broker: Mosquitto, topic: str, client_id: str = "", keep: bool = False) -> None:
        self.messages: list[Received5] = []
        self.lock = threading.Lock()
        self.topic = topic
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        if keep:
            properties.SessionExpiryInterval = 3600
        self.client.connect(HOST, broker.port, keepalive=10, clean_start=not keep, properties=properties)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("the MQTT 5 test subscriber did not subscribe within 10 s")

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        import json

        props = msg.properties.json() if msg.properties is not None else {}
        with self.lock:
            self.messages.append(Received5(msg.topic, json.loads(msg.payload)["frame"], props))

    def frames(self) -> list[int]:
        with self.lock:
            return [m.frame for m in self.messages]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` distinct frames have arrived (QoS 1 may repeat one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(set(self.frames())) < count:
            time.sleep(0.02)
        return len(set(self.frames())) >= count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def v5(broker: Mosquitto, *extra: str) -> Config:
    return make_config(broker, "mqtt.protocol='5'", *extra)


def publish(sink: MqttSink, frames: range) -> None:
    for i in frames:
        sink.write(frame(i))


def wait_published(sink: MqttSink, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sink.counters()["published"] < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"the broker acknowledged {sink.counters()['published']} of {count}")
        time.sleep(0.02)


def test_pose_messages_carry_expiry_content_type_and_schema(broker: Mosquitto) -> None:
    config = v5(broker, "mqtt.poses_expiry=30")
    topic = Topics.from_config(config).poses
    subscriber = Subscriber5(broker, topic)
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(5))
    assert subscriber.wait_for(5)
    sink.close()
    subscriber.close()
    assert subscriber.frames() == list(range(5))
    for message in subscriber.messages:
        assert message.topic == topic  # the alias is resolved by the broker; subscribers see the topic
        assert message.properties["ContentType"] == "application/json"
        assert message.properties["UserProperty"] == [("schema", "edgepose.poses/1")]
        assert 0 < message.properties["MessageExpiryInterval"] <= 30  # what is left of it


def test_no_expiry_sends_none(broker: Mosquitto) -> None:
    config = v5(broker)
    subscriber = Subscriber5(broker, Topics.from_config(config).poses)
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(3))
    assert subscriber.wait_for(3)
    sink.close()
    subscriber.close()
    assert all("MessageExpiryInterval" not in m.properties for m in subscriber.messages)
    assert all(m.properties["ContentType"] == "application/json" for m in subscriber.messages)


def test_a_pose_that_expired_while_the_subscriber_was_away_is_not_delivered(broker: Mosquitto) -> None:
    config = v5(broker, "mqtt.poses_expiry=1")
    topic = Topics.from_config(config).poses
    away = Subscriber5(broker, topic, client_id="away", keep=True)
    away.close()  # its session (and QoS 1 subscription) stays on the broker
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(0, 3))
    wait_published(sink, 3)
    time.sleep(2.5)  # frames 0-2 are now older than their 1 s expiry
    publish(sink, range(3, 6))
    wait_published(sink, 6)
    back = Subscriber5(broker, topic, client_id="away", keep=True)
    assert back.wait_for(3)
    time.sleep(0.5)  # anything else queued would arrive now
    sink.close()
    back.close()
    assert back.frames() == [3, 4, 5]


def test_topic_aliases_cut_the_bytes_sent_per_pose_message(broker: Mosquitto) -> None:
    count = 50
    sent = {}
    for alias in (False, True):
        relay = CountingRelay(broker.port)
        config = make_config(broker, "mqtt.protocol='5'", f"mqtt.port={relay.port}", f"mqtt.topic_alias={alias}")
        subscriber = Subscriber5(broker, Topics.from_config(config).poses)
        sink = open_sink(config)
        wait_connected(sink)
        before = relay.sent
        publish(sink, range(count))
        wait_published(sink, count)
        assert subscriber.wait_for(count)
        sent[alias] = relay.sent - before
        sink.close()
        subscriber.close()
        relay.close()
        assert {m.topic for m in subscriber.messages} == {Topics.from_config(config).poses}
    topic = Topics.from_config(config).poses
    # an aliased message sends an empty topic (its 2-byte length stays) and a 3-byte alias property
    # instead of the topic's bytes; the first one names the topic and pays the property alone
    expected = (count - 1) * (len(topic.encode()) - 3) - 3
    assert abs((sent[False] - sent[True]) - expected) <= count  # a remaining-length byte may differ


def test_aliased_qos1_poses_survive_a_broker_restart(broker: Mosquitto) -> None:
    config = v5(broker, "mqtt.buffer_messages=5000")
    topic = Topics.from_config(config).poses
    subscriber = Subscriber5(broker, topic, client_id="watcher", keep=True)
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(0, 100))
    broker.stop()
    publish(sink, range(100, 200))
    broker.start()
    wait_connected(sink)
    publish(sink, range(200, 300))
    wait_published(sink, 300, timeout=20)
    assert subscriber.wait_for(300, timeout=20)
    sink.close()
    subscriber.close()
    assert set(subscriber.frames()) == set(range(300))  # QoS 1 may repeat one, never lose one
    assert sink.counters()["reconnects"] == 1
    assert "protocol error" not in broker.log().lower()


def test_aliased_poses_unacknowledged_when_the_connection_drops_are_resent_with_their_topic(
    broker: Mosquitto,
) -> None:
    relay = CountingRelay(broker.port)
    config = v5(broker, f"mqtt.port={relay.port}", "mqtt.buffer_messages=5000")
    subscriber = Subscriber5(broker, Topics.from_config(config).poses)
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(0, 10))
    wait_published(sink, 10)
    relay.withhold.set()  # the broker gets frames 10-29 but its acknowledgements are lost
    publish(sink, range(10, 30))
    time.sleep(0.5)
    relay.withhold.clear()
    relay.cut()  # paho would resend 10-29 as sent: an empty topic and an alias the new connection lacks
    wait_published(sink, 30, timeout=20)
    publish(sink, range(30, 40))
    assert subscriber.wait_for(40, timeout=20)
    sink.close()
    subscriber.close()
    relay.close()
    assert set(subscriber.frames()) == set(range(40))
    assert sink.counters()["reconnects"] == 1  # not a loop of refused resends


def test_mqtt_311_ignores_the_mqtt5_settings(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.poses_expiry=1", "mqtt.topic_alias=true")
    subscriber = Subscriber5(broker, Topics.from_config(config).poses)
    sink = open_sink(config)
    wait_connected(sink)
    publish(sink, range(5))
    assert subscriber.wait_for(5)
    sink.close()
    subscriber.close()
    assert subscriber.frames() == list(range(5))
    assert all(m.properties == {} for m in subscriber.messages)
    assert "(p2, " in broker.log()  # Mosquitto logs its protocol number of each client: p2 is 3.1.1, p5 is 5
