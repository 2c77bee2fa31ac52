"""The analysis stage's MQTT contract against a real Mosquitto: events (QoS 1, not retained) and
retained zone states arrive and validate; Home Assistant zone entities are announced, and removed
(with their retained states) when a zone goes from the config."""

from __future__ import annotations

import numpy as np

from edgepose.analysis.stage import make_analysis
from edgepose.config import Config
from edgepose.documents.events import event_documents
from edgepose.documents.poses import Stamp, encode, to_document
from edgepose.keypoints import KP
from edgepose.mqtt.homeassistant import zone_discovery_messages
from edgepose.mqtt.topics import Topics
from edgepose.pose import FrameResult, Pose
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.conftest import validate_document
from tests.mosquitto import Collector, Mosquitto
from tests.test_mqtt_sink import META, make_config, wait_connected

LEFT = "{name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], enter_after: 0, leave_after: 0}"
RIGHT = "{name: right, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], enter_after: 0, leave_after: 0}"


def analysis_config(broker: Mosquitto, *zones: str, ha: bool = True) -> Config:
    return make_config(broker, "analysis.enabled=true", f"analysis.zones=[{', '.join(zones)}]",
                       f"mqtt.homeassistant.enabled={'true' if ha else 'false'}")  # fmt: skip


def walker(x: float, track_id: int) -> Pose:
    kp = np.zeros((17, 3), np.float32)
    for name, dy in (("left_ankle", 0), ("right_ankle", 0), ("left_hip", -100), ("right_hip", -100)):
        kp[KP[name]] = (x, 400 + dy, 0.9)
    return Pose(kp, 0.9, (x - 20, 250, x + 20, 400), track_id)


def run_frames(config: Config, sink: MqttSink, xs: list[float]) -> list[dict]:
    """What the pipeline does after tracking, frame by frame: analyze, build, encode, hand to the sink."""
    stage = make_analysis(config, "cam0")
    stamp = Stamp("testpi", "test-model", "cpu")
    published = []
    for i, x in enumerate(xs):
        result = stage.apply(FrameResult(i, 1.8e9 + i, float(i), 640, 480, "cam0", (walker(x, 7),)))
        document = to_document(result, stamp)
        sink.write(result, document, encode(document))
        events = event_documents(result, "testpi")
        if events:
            sink.write_events(result, events, [encode(e) for e in events])
            published.extend(events)
    return published


def test_events_and_retained_zone_states_arrive_and_validate(broker: Mosquitto) -> None:
    config = analysis_config(broker, LEFT, RIGHT, ha=False)
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.events, topics.zone("+")])
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    sent = run_frames(config, sink, [100, 200, 500, 600])  # left, left, right, right
    kinds = [(e["kind"], e["zone"]) for e in sent]
    assert kinds == [("zone_enter", "left"), ("zone_count", "left"), ("zone_leave", "left"),
                     ("zone_count", "left"), ("zone_enter", "right"), ("zone_count", "right")]  # fmt: skip
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
    sink2.close()
    collector.close()
    late = Collector(broker, ["homeassistant/#", topics.zone("+")])
    # Retained messages come in one burst after subscribing: once the kept ones are in, so would the gone.
    assert late.wait_for(lambda c: {*kept, topics.zone("left")} <= {m.topic for m in c.messages})
    assert not {m.topic for m in late.messages} & {*gone, topics.zone("right")}
    late.close()
