"""The analysis stage's MQTT contract against a real Mosquitto: events (QoS 1, not retained) and
retained zone states arrive and validate; Home Assistant zone entities are announced, and removed
(with their retained states) when a zone goes from the config."""

from __future__ import annotations

from edgepose.config import Config
from edgepose.mqtt.homeassistant import zone_discovery_messages
from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import validate_document
from tests.builders.mqtt import LEFT, META, analysis_config, run_frames, wait_connected
from tests.mosquitto import Collector, Mosquitto

RIGHT = "{name: right, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], enter_after: 0, leave_after: 0}"


def test_events_and_retained_zone_states_arrive_and_validate(broker: Mosquitto) -> None:
    config = analysis_config(broker, LEFT, RIGHT, ha=False)
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.events, topics.zone("+")])
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    sent = run_frames(config, sink, [100, 200, 500, 600])  # left, left, right, right
    kinds = [(e["kind"], e["zone"]) for e in sent]
    assert kinds == [
        ("zone_enter", "left"),
        ("zone_count", "left"),
        ("zone_leave", "left"),
        ("zone_count", "left"),
        ("zone_enter", "right"),
        ("zone_count", "right"),
    ]
    assert collector.wait_for(lambda c: len(c.on(topics.events)) == len(sent))
    got = [m.json() for m in collector.on(topics.events)]
    assert got == sent  # in order, QoS 1
    assert not any(m.retain for m in collector.on(topics.events))
    for doc in got:
        validate_document(doc, "events.v1.json")
    assert collector.wait_for(lambda c: [m.json()["count"] for m in c.on(topics.zone("right"))][-1:] == [1])
    sink.close()
    collector.close()
    assert sink.counters()["published_events"] == len(sent)
    # A subscriber that connects later gets the present from the retained states.
    late = Collector(broker, [topics.zone("+")])
    assert late.wait_for(lambda c: len(c.messages) == 2)
    states = {m.topic: m.json() for m in late.messages}
    for doc in states.values():
        validate_document(doc, "zones.v1.json")
    assert all(m.retain for m in late.messages)
    assert states[topics.zone("left")]["occupied"] is False
    assert states[topics.zone("right")]["track_ids"] == [7] and states[topics.zone("right")]["occupied"] is True
    late.close()


def discovery_topics(config: Config, zones: list[str]) -> list[str]:
    topics = Topics.from_config(config)
    return [t for t, _ in zone_discovery_messages("homeassistant", "testpi", topics, zones)]


def test_home_assistant_zone_entities_are_announced_then_removed_when_the_zone_goes(broker: Mosquitto) -> None:
    config = analysis_config(broker, LEFT, RIGHT)
    topics = Topics.from_config(config)
    collector = Collector(broker, ["homeassistant/#", topics.zone("+")])
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    run_frames(config, sink, [100])
    wanted = discovery_topics(config, ["left", "right"])
    assert collector.wait_for(lambda c: all(c.on(t) for t in wanted))
    for t in wanted:
        entity = collector.on(t)[-1].json()
        assert entity["state_topic"].startswith(f"{topics.prefix}/cam0/zones/") and entity["unique_id"]
        assert entity["availability_topic"] == topics.available
    assert collector.wait_for(lambda c: len(c.on(topics.zone("right"))) >= 1)
    sink.close()

    # The next run's config has no 'right' zone: its entities and retained state are removed.
    config2 = analysis_config(broker, LEFT)
    sink2 = MqttSink(config2, RunStats())
    sink2.open(META)
    wait_connected(sink2)
    gone = discovery_topics(config, ["right"])
    assert collector.wait_for(lambda c: all(c.on(t) and c.on(t)[-1].payload == b"" for t in gone))
    assert collector.wait_for(lambda c: c.on(topics.zone("right"))[-1].payload == b"")
    kept = discovery_topics(config, ["left"])
    assert all(collector.on(t)[-1].payload for t in kept)  # the zone still configured keeps its entities
    # Its state is the first run's: emptied until a frame of this run sets it (docs/mqtt.md).
    assert collector.wait_for(lambda c: c.on(topics.zone("left"))[-1].payload == b"")
    sink2.close()
    collector.close()
    late = Collector(broker, ["homeassistant/#", topics.zone("+")])
    # Retained messages come in one burst after subscribing: once the kept ones are in, so would the gone.
    assert late.wait_for(lambda c: set(kept) <= {m.topic for m in c.messages})
    assert not {m.topic for m in late.messages} & {*gone, topics.zone("right"), topics.zone("left")}
    late.close()
