"""The MQTT sink against a real Mosquitto, driven directly with FrameResults (fast).

Every test starts its own broker on a free loopback port; outages are real broker stops.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jsonschema
import pytest

from edgepose.config.sections import Config
from edgepose.keypoints import KEYPOINT_NAMES
from edgepose.mqtt.topics import Topics
from edgepose.schema import load_schema
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import validate_document
from tests.builders.mqtt import frame, make_config, open_sink, wait_connected
from tests.mosquitto import Collector, Mosquitto

POSES = jsonschema.Draft202012Validator(load_schema("poses.v1.json"))


def frame_numbers(collector: Collector, topic: str) -> list[int]:
    return [m.json()["frame"] for m in collector.on(topic)]


def test_round_trip_in_order_schema_valid_and_retained_status(broker: Mosquitto) -> None:
    config = make_config(broker)
    topics = Topics.from_config(config)
    early = Collector(broker, [topics.all_poses, topics.available, topics.meta, topics.count])
    sink = open_sink(config)
    wait_connected(sink)
    n = 200
    for i in range(n):
        sink.write(frame(i, people=1 + (i >= 100)))
    assert early.wait_for(lambda c: len(c.on(topics.poses)) >= n)
    # a subscriber that arrives late still learns that the device is online and what it runs
    late = Collector(broker, [topics.available, topics.meta, topics.count])
    assert late.wait_for(lambda c: c.on(topics.available) and c.on(topics.meta) and c.on(topics.count))
    sink.close()
    assert early.wait_for(lambda c: [m.payload for m in c.on(topics.available)][-1:] == [b"offline"])

    docs = [m.json() for m in early.on(topics.poses)]
    assert [d["frame"] for d in docs] == list(range(n))  # every one, in order
    validate_document(docs[0])
    for d in docs:  # the same schema, checked once and reused (validate_document re-checks it each call)
        POSES.validate(d)
    assert docs[150]["poses"][1]["keypoints"] == frame(150, people=2).document["poses"][1]["keypoints"]
    available = late.on(topics.available)[0]
    assert (available.payload, available.retain) == (b"online", True)
    meta = late.on(topics.meta)[0]
    assert meta.retain
    jsonschema.validate(meta.json(), load_schema("meta.v1.json"))
    assert meta.json()["keypoints"] == list(KEYPOINT_NAMES)
    assert meta.json()["topics"]["poses"] == "edgepose/testpi/cam0/poses"
    # the count topic is retained and changes only when the number of people does
    assert [m.payload for m in early.on(topics.count)] == [b"1", b"2"]
    assert late.on(topics.count)[0].payload == b"2" and late.on(topics.count)[0].retain
    assert sink.counters()["published"] == n and sink.dropped == 0
    early.close()
    late.close()


def run_outage(broker: Mosquitto, config: Config, before: int, during: int, after: int) -> tuple[MqttSink, Collector]:
    """Publish ``before`` frames, stop the broker, publish ``during``, start it, publish ``after``."""
    topics = Topics.from_config(config)
    # a persistent session, so what the broker accepted while we were away is kept for us
    collector = Collector(broker, [topics.poses, topics.stats], client_id="outage-watcher", clean=False)
    sink = open_sink(config)
    wait_connected(sink)
    index = 0
    for _ in range(before):
        sink.write(frame(index))
        index += 1
        time.sleep(0.001)
    broker.stop()
    for _ in range(during):
        sink.write(frame(index))
        index += 1
        time.sleep(0.002)
    assert not sink.counters()["connected"]
    broker.start()
    wait_connected(sink)
    for _ in range(after):
        sink.write(frame(index))
        index += 1
        time.sleep(0.001)
    sink.close()
    return sink, collector


def test_outage_with_a_big_buffer_loses_nothing(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.buffer_messages=5000")
    sink, collector = run_outage(broker, config, before=100, during=400, after=100)
    topic = Topics.from_config(config).poses
    assert collector.wait_for(lambda c: len(set(frame_numbers(c, topic))) >= 600, timeout=15)
    frames = frame_numbers(collector, topic)
    assert set(frames) == set(range(600))  # QoS 1 may repeat a message; it must not lose one
    assert sink.counters()["dropped"] == 0
    assert sink.counters()["reconnects"] == 1
    assert sink.counters()["published"] == 600
    collector.close()


def test_outage_with_a_small_buffer_drops_the_oldest_and_reports_each(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.buffer_messages=50", "mqtt.stats_interval=3600")
    topics = Topics.from_config(config)
    sink, collector = run_outage(broker, config, before=100, during=400, after=100)
    assert collector.wait_for(lambda c: len(set(frame_numbers(c, topics.poses))) + sink.dropped >= 600)
    assert collector.wait_for(lambda c: len(c.on(topics.stats)) >= 1)  # close() publishes final stats
    received = set(frame_numbers(collector, topics.poses))
    missing = sorted(set(range(600)) - received)
    reported = collector.on(topics.stats)[-1].json()["mqtt"]["dropped"]
    assert len(missing) > 300
    assert reported == len(missing) == sink.counters()["dropped"] == sink.counters()["dropped_buffer_full"]
    # the oldest of the outage went: the missing frames are one run, and the newest 50 before
    # the reconnect were kept
    assert missing == list(range(missing[0], missing[-1] + 1))
    assert set(range(missing[-1] + 1, missing[-1] + 51)) <= received
    collector.close()


def test_broker_down_at_start_connects_when_it_appears(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    config = make_config(broker)
    topics = Topics.from_config(config)
    # The subscriber's persistent session is made before the outage, so the broker keeps what
    # arrives for it whether the sink or the subscriber reconnects first.
    broker.start()
    Collector(broker, [topics.poses, topics.available], client_id="late", clean=False).close()
    broker.stop()
    sink = open_sink(config)
    for i in range(30):  # frames flow while there is no broker
        sink.write(frame(i))
    time.sleep(0.5)
    counters = sink.counters()
    assert counters["connected"] == 0 and counters["queue_depth"] == 30 and counters["connect_failures"] >= 1
    broker.start()
    try:
        collector = Collector(broker, [topics.poses, topics.available], client_id="late", clean=False)
        wait_connected(sink)
        for i in range(30, 40):
            sink.write(frame(i))
        assert collector.wait_for(lambda c: len(c.on(topics.poses)) >= 40)
        assert frame_numbers(collector, topics.poses) == list(range(40))
        assert collector.on(topics.available)[0].payload == b"online"
        sink.close()
        collector.close()
    finally:
        broker.stop()


def test_clean_shutdown_publishes_offline_retained(broker: Mosquitto) -> None:
    config = make_config(broker)
    topics = Topics.from_config(config)
    sink = open_sink(config)
    wait_connected(sink)
    sink.write(frame(0))
    sink.close()
    late = Collector(broker, [topics.available])
    assert late.wait_for(lambda c: len(c.on(topics.available)) >= 1)
    message = late.on(topics.available)[0]
    assert (message.payload, message.retain) == (b"offline", True)
    assert "edgepose-testpi" in broker.log()  # the default client id
    late.close()


def test_policy_skips_are_counted_apart_from_drops(broker: Mosquitto) -> None:
    config = make_config(
        broker, "mqtt.only_with_poses=true", "mqtt.max_rate=20", "mqtt.max_payload=2048", "mqtt.buffer_bytes=4096"
    )
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.poses])
    sink = open_sink(config)
    wait_connected(sink)
    sink.write(frame(0, people=0))  # no person: skipped by policy
    sink.write(frame(1, people=1))  # published
    sink.write(frame(2, people=1))  # within 1/20 s of the last one: skipped by policy
    time.sleep(0.06)
    sink.write(frame(3, people=5))  # ~2.5 kB: over max_payload, dropped and counted
    time.sleep(0.06)
    sink.write(frame(4, people=1))  # published
    assert collector.wait_for(lambda c: len(c.on(topics.poses)) >= 2)
    sink.close()
    counters = sink.counters()
    assert frame_numbers(collector, topics.poses) == [1, 4]
    assert counters["skipped_policy"] == 2
    assert counters["dropped_oversize"] == 1 and counters["dropped"] == 1
    assert counters["published"] == 2
    collector.close()


def test_stats_are_numbers_that_validate(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.stats_interval=0.2")
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.stats])
    stats = RunStats(started_mono=time.monotonic(), captured=5, processed=5)
    stats.inference_ms.add(2.0)
    sink = open_sink(config, stats)
    wait_connected(sink)
    for i in range(5):
        sink.write(frame(i))
    assert collector.wait_for(lambda c: len(c.on(topics.stats)) >= 2, timeout=5)
    sink.close()
    doc = collector.on(topics.stats)[-1].json()
    jsonschema.validate(doc, load_schema("stats.v1.json"))
    assert doc["processed"] == 5 and doc["inference_ms_p50"] == 2.0
    assert doc["mqtt"]["published"] == 5 and doc["mqtt"]["dropped"] == 0
    assert isinstance(doc["rss_bytes"], int) and doc["rss_bytes"] > 0
    collector.close()


def test_every_state_change_logs_one_line_not_one_per_message(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgepose")
    config = make_config(broker, "mqtt.buffer_messages=5")
    sink = open_sink(config)
    wait_connected(sink)
    broker.stop()
    for i in range(100):
        sink.write(frame(i))
        time.sleep(0.001)
    broker.start()
    wait_connected(sink)
    sink.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("edgepose")]
    assert sum("buffer is full" in line for line in lines) == 1
    assert sum("lost the connection" in line for line in lines) == 1
    assert sum("reconnected" in line for line in lines) == 1
    assert len(lines) < 15, lines


def test_home_assistant_discovery_is_published_retained_when_enabled(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.homeassistant.enabled=true", "mqtt.stats_interval=10")  # the fps sensor too
    sink = open_sink(config)
    wait_connected(sink)
    late = Collector(broker, ["homeassistant/sensor/#"])
    assert late.wait_for(lambda c: len(c.messages) >= 2)
    sink.close()
    configs = {m.topic: m for m in late.messages}
    people = configs["homeassistant/sensor/edgepose_testpi/people/config"]
    assert people.retain and people.json()["state_topic"] == "edgepose/testpi/count"
    assert configs["homeassistant/sensor/edgepose_testpi/fps/config"].retain
    late.close()


def test_mqtt5_publishes_the_same_documents(broker: Mosquitto) -> None:
    config = make_config(broker, "mqtt.protocol='5'")
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.poses, topics.available])
    sink = open_sink(config)
    wait_connected(sink)
    for i in range(20):
        sink.write(frame(i))
    assert collector.wait_for(lambda c: len(c.on(topics.poses)) >= 20)
    sink.close()
    assert collector.wait_for(lambda c: [m.payload for m in c.on(topics.available)] == [b"online", b"offline"])
    assert frame_numbers(collector, topics.poses) == list(range(20))
    assert "p5" in broker.log()  # Mosquitto logs the protocol of each client: (p5, c1, k30)
    collector.close()


def test_counts_in_the_log_agree_with_their_nouns(broker: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """One message published: "1 pose message", never "1 pose messages"."""
    caplog.set_level(logging.INFO, logger="edgepose")
    sink = open_sink(make_config(broker))
    wait_connected(sink)
    sink.write(frame(0))
    sink.close()
    (closed,) = [r.getMessage() for r in caplog.records if "closed:" in r.getMessage()]
    assert closed == "mqtt: closed: 1 pose message published, 0 dropped, 0 reconnects", closed
