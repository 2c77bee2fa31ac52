"""Several cameras, one MQTT connection, against a real Mosquitto: each camera's documents on its own
topics (poses in order, counts per camera and the device's total, zone states of its own zones,
reps reset commands to its own callback), Home Assistant entities per camera, the publishing policy
per camera, a frame of a camera not configured, and a reload that adds or removes a camera (its
entities and states announced, or cleared)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from edgepose.analysis.stage import make_analysis
from edgepose.config import Config
from edgepose.documents.output import CameraQuiet, Reloaded
from edgepose.documents.poses import Stamp
from edgepose.mqtt.homeassistant import (
    camera_people_config_topic,
    fall_config_topic,
    zone_discovery_messages,
)
from edgepose.mqtt.topics import Topics
from edgepose.pose import FrameResult, Pose
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import output_of, validate_document
from tests.builders.mqtt import META, make_config, wait_connected, walker
from tests.mosquitto import Collector, Mosquitto

STAMP = Stamp("testpi", "test-model", "cpu")
TWO = "cameras={front: {source: {uri: front.mp4}}, garden: {source: {uri: garden.mp4}}}"  # files: not opened here
# "door" is the front camera's only; "all" is every camera's.
DOOR = "{name: door, camera: front, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], enter_after: 0, leave_after: 0}"
YARD = "{name: yard, camera: garden, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], enter_after: 0, leave_after: 0}"
ALL = "{name: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], enter_after: 0, leave_after: 0}"
HA = "homeassistant/sensor/edgepose_testpi"


def person(x: float = 100.0, track: int = 1) -> Pose:
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0], kp[:, 1], kp[:, 2] = x, 240.0, 0.9
    return Pose(kp, 0.9, (x - 10, 200, x + 10, 280), track)


def send(sink: MqttSink, camera: str, index: int, people: int = 1) -> None:
    """One frame of ``camera`` with ``people`` poses, as the pipeline hands it to the sink."""
    result = FrameResult(
        index,
        1.8e9 + index,
        float(index),
        640,
        480,
        camera,
        tuple(person(100.0 + 50 * i, i + 1) for i in range(people)),
    )
    sink.write(output_of(result, STAMP))


def connected(config: Config) -> MqttSink:
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    return sink


def payloads(collector: Collector, topic: str) -> list[bytes]:
    return [m.payload for m in collector.on(topic)]


def changes_of(values: list[int]) -> list[bytes]:
    """A retained state's values whenever it changes."""
    return [str(v).encode() for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def follows(got: list[bytes], changes: list[bytes]) -> bool:
    """Whether ``got`` is ``changes`` in order ending with the last one: a retained state not yet sent
    when it changes again is sent once, with its latest value (``MqttTransport.set_state``)."""
    rest = iter(changes)
    return bool(got) and got[-1] == changes[-1] and all(any(v == c for c in rest) for v in got)


def last(collector: Collector, topic: str) -> bytes | None:
    got = collector.on(topic)
    return got[-1].payload if got else None


def test_each_cameras_poses_go_to_its_own_topic_in_order_with_its_count_and_the_total(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edgepose")
    config = make_config(broker, TWO)
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    assert (front.camera, front.poses) == ("front", "edgepose/testpi/front/poses")
    collector = Collector(broker, [front.every_camera("poses"), front.count, front.every_camera("count"), front.meta])
    sink = connected(config)
    people = {"front": [1, 1, 2, 2, 0, 0], "garden": [0, 3, 3, 1, 1, 1]}
    for i in range(6):  # interleaved, as the round-robin scheduler hands them over
        send(sink, "front", i, people["front"][i])
        send(sink, "garden", i, people["garden"][i])
    send(sink, "attic", 0)  # not configured: its own poses topic, no count
    send(sink, "attic", 1)
    assert collector.wait_for(
        lambda c: (
            len(c.on(front.poses)) == 6
            and len(c.on(garden.poses)) == 6
            and len(c.on(front.for_camera("attic").poses)) == 2
        )
    )
    sink.close()
    for topics in (front, garden):
        docs = [m.json() for m in collector.on(topics.poses)]
        assert [d["frame"] for d in docs] == list(range(6))  # every one, in order
        assert {d["camera"] for d in docs} == {topics.camera}
        assert [len(d["poses"]) for d in docs] == people[topics.camera]
        validate_document(docs[0])
        # Each camera's count, retained, whenever it changes.
        assert follows(payloads(collector, topics.camera_count), changes_of(people[topics.camera]))
    # The device's count is the total of each camera's latest, published when the total changes:
    # after each frame (front 1, garden 0, front 1, garden 3, front 2, garden 3, ...)
    totals = [1, 1, 1, 4, 5, 5, 4, 3, 2, 1, 1, 1]
    assert follows(payloads(collector, front.count), changes_of(totals))
    assert not collector.on(front.for_camera("attic").camera_count)
    assert sink.counters()["unknown_camera"] == 2
    assert sum("camera 'attic', which is not configured" in r.getMessage() for r in caplog.records) == 1
    meta = collector.on(front.meta)[-1].json()
    validate_document(meta, "meta.v1.json")
    assert meta["topics"]["poses"] == front.poses and meta["topics"]["count"] == front.count
    assert meta["topics"]["cameras"] == {
        "front": {"poses": front.poses, "count": front.camera_count},
        "garden": {"poses": garden.poses, "count": garden.camera_count},
    }
    collector.close()
    late = Collector(broker, [front.count, front.every_camera("count")])  # all retained
    assert late.wait_for(lambda c: len(c.messages) == 3)
    assert {m.topic: m.payload for m in late.messages} == {
        front.count: b"1",
        front.camera_count: b"0",
        garden.camera_count: b"1",
    }
    late.close()


def test_one_camera_keeps_the_device_count_alone(broker: Mosquitto) -> None:
    config = make_config(broker, "cameras={front: {source: {uri: front.mp4}}}")
    topics = Topics.from_config(config)
    collector = Collector(
        broker, [topics.every_camera("poses"), topics.count, topics.every_camera("count"), topics.meta]
    )
    sink = connected(config)
    for i, n in enumerate([1, 2, 2]):
        send(sink, "front", i, n)
    assert collector.wait_for(lambda c: len(c.on(topics.poses)) == 3 and last(c, topics.count) == b"2")
    sink.close()
    assert follows(payloads(collector, topics.count), [b"1", b"2"])
    assert not collector.on(topics.camera_count)
    meta = collector.on(topics.meta)[-1].json()
    assert meta["topics"]["cameras"] == {"front": {"poses": topics.poses}}
    collector.close()


def test_the_publishing_policy_is_each_cameras_own(broker: Mosquitto) -> None:
    config = make_config(broker, TWO, "mqtt.only_with_poses=true", "mqtt.max_rate=0.001")  # one message each
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    collector = Collector(broker, [front.every_camera("poses")])
    sink = connected(config)
    send(sink, "front", 0, people=0)  # no person: skipped
    send(sink, "garden", 0, people=1)  # published: the front camera's policy is not the garden's
    send(sink, "front", 1, people=1)  # published: the garden's message does not rate-limit the front
    send(sink, "garden", 1, people=1)  # within its own rate: skipped
    send(sink, "front", 2, people=1)  # within its own rate: skipped
    assert collector.wait_for(lambda c: len(c.on(front.poses)) == 1 and len(c.on(garden.poses)) == 1)
    sink.close()
    assert [m.json()["frame"] for m in collector.on(front.poses)] == [1]
    assert [m.json()["frame"] for m in collector.on(garden.poses)] == [0]
    assert sink.counters()["skipped_policy"] == 3
    collector.close()


def test_zone_states_and_events_go_to_their_own_camera_only(broker: Mosquitto) -> None:
    config = make_config(broker, TWO, "analysis.enabled=true", f"analysis.zones=[{DOOR}, {YARD}, {ALL}]")
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    collector = Collector(broker, [front.every_camera("zones/+"), front.every_camera("events")])
    sink = connected(config)
    assert sink.camera_zones("front") == ["door", "all"] and sink.camera_zones("garden") == ["yard", "all"]
    stages = {camera: make_analysis(config, camera) for camera in ("front", "garden")}
    sent: dict[str, list[dict]] = {"front": [], "garden": []}
    for i, x in enumerate([100.0, 500.0]):  # front: in door and all, then all alone; garden: in yard and all
        for camera, stage in stages.items():
            assert stage is not None
            result = stage.apply(FrameResult(i, 1.8e9 + i, float(i), 640, 480, camera, (walker(x, 7),)))
            output = output_of(result, STAMP)
            sink.write(output)
            sent[camera].extend(output.events)
    assert collector.wait_for(
        lambda c: len(c.on(front.events)) == len(sent["front"]) and len(c.on(garden.events)) == len(sent["garden"])
    )
    assert collector.wait_for(lambda c: bool(c.on(front.zone("door"))) and len(c.on(garden.zone("yard"))) >= 1)
    sink.close()
    assert [m.json() for m in collector.on(front.events)] == sent["front"]
    assert [m.json() for m in collector.on(garden.events)] == sent["garden"]
    assert {e["zone"] for e in sent["front"]} == {"door", "all"} and {e["zone"] for e in sent["garden"]} == {
        "yard",
        "all",
    }
    collector.close()
    late = Collector(broker, [front.every_camera("zones/+")])
    assert late.wait_for(lambda c: len(c.messages) == 4)
    states = {m.topic: m.json() for m in late.messages}
    assert set(states) == {front.zone("door"), front.zone("all"), garden.zone("yard"), garden.zone("all")}
    for doc in states.values():
        validate_document(doc, "zones.v1.json")
    assert states[front.zone("door")]["occupied"] is False and states[front.zone("all")]["occupied"] is True
    assert states[garden.zone("yard")]["camera"] == "garden" and states[garden.zone("yard")]["occupied"] is True
    late.close()


def test_reps_reset_commands_reach_their_own_cameras_callback(broker: Mosquitto) -> None:
    config = make_config(broker, TWO, "analysis.enabled=true", "analysis.behaviours.reps.enabled=true")
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    sink = connected(config)
    calls: list[tuple[str, int | None]] = []
    sink.commands.register("front", lambda track: calls.append(("front", track)) or True)
    sink.commands.register("garden", lambda track: calls.append(("garden", track)) or True)
    commander = Collector(broker, [front.every_camera("reps/reset")])

    def command(topic: str, payload: bytes) -> None:
        commander.client.publish(topic, payload, qos=1).wait_for_publish(5)

    command(garden.reps_reset, b"3")
    assert Collector.wait_for(commander, lambda _: sink.counters()["reps_resets"] == 1)
    command(front.reps_reset, b"")
    assert Collector.wait_for(commander, lambda _: sink.counters()["reps_resets"] == 2)
    command(front.for_camera("attic").reps_reset, b"")  # not one of ours (a shared prefix): ignored
    command(front.reps_reset, b"x")  # refused: counted
    assert Collector.wait_for(commander, lambda _: sink.counters()["commands_refused"] == 1)
    assert calls == [("garden", 3), ("front", None)]
    # A camera whose stage is gone (removed by a reload) has nowhere to send them: refused, counted.
    sink.commands.forget("garden")
    command(garden.reps_reset, b"5")
    assert Collector.wait_for(commander, lambda _: sink.counters()["commands_refused"] == 2)
    assert calls == [("garden", 3), ("front", None)]
    sink.close()
    commander.close()


def test_home_assistant_has_a_people_sensor_per_camera_and_the_devices_total(broker: Mosquitto) -> None:
    config = make_config(
        broker,
        TWO,
        "mqtt.homeassistant.enabled=true",
        "analysis.enabled=true",
        f"analysis.zones=[{DOOR}, {ALL}]",
        "analysis.behaviours.falls.enabled=true",
        "mqtt.stats_interval=10",
    )
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    sink = connected(config)
    late = Collector(broker, ["homeassistant/#"])
    wanted = {
        f"{HA}/people/config",
        f"{HA}/fps/config",
        camera_people_config_topic("homeassistant", "testpi", "front"),
        camera_people_config_topic("homeassistant", "testpi", "garden"),
        fall_config_topic("homeassistant", "testpi", "front"),
        fall_config_topic("homeassistant", "testpi", "garden"),
        *(t for t, _ in zone_discovery_messages("homeassistant", "testpi", front, ["door", "all"])),
        *(t for t, _ in zone_discovery_messages("homeassistant", "testpi", garden, ["all"])),
    }
    assert late.wait_for(lambda c: {m.topic for m in c.messages} >= wanted)
    sink.close()
    configs = {m.topic: m.json() for m in late.messages}
    assert set(configs) == wanted  # the garden has no door
    assert configs[f"{HA}/people/config"]["state_topic"] == front.count  # the device's total
    for topics in (front, garden):
        sensor = configs[camera_people_config_topic("homeassistant", "testpi", topics.camera)]
        assert sensor["state_topic"] == topics.camera_count
        assert sensor["device"] == configs[f"{HA}/people/config"]["device"]  # one device
        assert sensor["availability_topic"] == front.available
    unique = [c["unique_id"] for c in configs.values()]
    assert len(set(unique)) == len(unique)
    late.close()


def test_a_reload_announces_an_added_camera_and_clears_a_removed_one(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edgepose")
    common = ("mqtt.homeassistant.enabled=true", "analysis.enabled=true", "analysis.behaviours.falls.enabled=true")
    config = make_config(broker, TWO, *common, f"analysis.zones=[{DOOR}, {YARD}]")
    front = Topics.from_config(config)
    garden, porch = front.for_camera("garden"), front.for_camera("porch")
    garden_entities = [
        camera_people_config_topic("homeassistant", "testpi", "garden"),
        fall_config_topic("homeassistant", "testpi", "garden"),
        *(t for t, _ in zone_discovery_messages("homeassistant", "testpi", garden, ["yard"])),
    ]
    front_people = camera_people_config_topic("homeassistant", "testpi", "front")
    collector = Collector(broker, ["homeassistant/#", f"{front.prefix}/#"])
    sink = connected(config)
    stages = {camera: make_analysis(config, camera) for camera in ("front", "garden")}
    for camera, stage in stages.items():  # someone in each camera's zone: retained zone states
        assert stage is not None
        result = stage.apply(FrameResult(0, 1.8e9, 0.0, 640, 480, camera, (walker(100.0, 7),)))
        sink.write(output_of(result, STAMP))
    assert collector.wait_for(
        lambda c: (
            bool(c.on(garden.zone("yard")))
            and bool(c.on(garden.camera_count))
            and all(c.on(t) for t in garden_entities)
        )
    )

    # The garden camera is removed: its zone state, fall state, count and entities are emptied;
    # the front camera is the one camera now: its own count and people sensor go, count is its own.
    one = make_config(broker, "cameras={front: {source: {uri: front.mp4}}}", *common, f"analysis.zones=[{DOOR}]")
    sink.write(Reloaded(one, META))
    gone = [*garden_entities, garden.zone("yard"), garden.fall, garden.camera_count, front.camera_count, front_people]
    assert collector.wait_for(lambda c: all(last(c, t) == b"" for t in gone))
    assert collector.wait_for(lambda c: last(c, front.count) == b"1") and last(collector, front.zone("door"))
    assert collector.wait_for(
        lambda c: json.loads(last(c, front.meta) or b"{}").get("topics", {}).get("cameras", {}).keys() == {"front"}
    )
    assert any("cameras removed garden" in r.getMessage() for r in caplog.records)
    # A frame the garden's stage still had in hand: its poses go out, no state comes back.
    result = stages["garden"].apply(FrameResult(1, 1.8e9 + 1, 1.0, 640, 480, "garden", (walker(600.0, 7),)))  # type: ignore[union-attr]
    sink.write(output_of(result, STAMP))
    assert collector.wait_for(lambda c: len(c.on(garden.poses)) == 2)

    # A porch camera is added: its entities and topics are announced; counts per camera again.
    step = "{name: step, camera: porch, polygon: [[0, 0], [1, 0], [1, 1]]}"
    three = make_config(
        broker,
        "cameras={front: {source: {uri: front.mp4}}, porch: {source: {uri: porch.mp4}}}",
        *common,
        f"analysis.zones=[{step}, {DOOR}]",
    )
    sink.write(Reloaded(three, META))
    porch_entities = [
        camera_people_config_topic("homeassistant", "testpi", "porch"),
        front_people,
        fall_config_topic("homeassistant", "testpi", "porch"),
        *(t for t, _ in zone_discovery_messages("homeassistant", "testpi", porch, ["step"])),
    ]
    assert collector.wait_for(lambda c: all(last(c, t) for t in porch_entities))
    assert collector.wait_for(lambda c: last(c, front.camera_count) == b"1")  # the front camera's latest
    meta = json.loads(last(collector, front.meta) or b"{}")
    validate_document(meta, "meta.v1.json")
    assert meta["topics"]["cameras"]["porch"] == {
        "poses": porch.poses,
        "count": porch.camera_count,
        "events": porch.events,
        "zones/step": porch.zone("step"),
        "fall": porch.fall,
    }
    send(sink, "porch", 0, people=2)
    assert collector.wait_for(lambda c: last(c, porch.camera_count) == b"2" and last(c, front.count) == b"3")
    sink.close()
    collector.close()
    late = Collector(broker, ["homeassistant/#", f"{front.prefix}/#"])
    assert late.wait_for(
        lambda c: {*porch_entities, front.zone("door"), porch.camera_count} <= {m.topic for m in c.messages}
    )
    left = {m.topic for m in late.messages}
    assert not left & {*garden_entities, garden.zone("yard"), garden.fall, garden.camera_count}
    late.close()


def test_a_start_with_one_camera_clears_what_a_run_with_several_left_for_it(broker: Mosquitto) -> None:
    """A camera's own count and people sensor exist only while several cameras run; the next start with
    one camera removes them, and the camera it no longer names (this device's meta listed it: the next
    test)."""
    front = Topics.from_config(make_config(broker, TWO))
    garden = front.for_camera("garden")
    people = {c: camera_people_config_topic("homeassistant", "testpi", c) for c in ("front", "garden")}
    collector = Collector(broker, ["homeassistant/#", f"{front.prefix}/#"])
    # settle 0: both cameras' counts at once (the hold is test_homeassistant_conventions.py's)
    sink = connected(make_config(broker, TWO, "mqtt.homeassistant.enabled=true", "mqtt.homeassistant.settle=0"))
    send(sink, "front", 0, people=2)
    send(sink, "garden", 0, people=1)
    assert collector.wait_for(
        lambda c: (
            last(c, front.count) == b"3"
            and last(c, garden.camera_count) == b"1"
            and all(last(c, t) for t in people.values())
        )
    )
    sink.close()
    one = make_config(broker, "cameras={front: {source: {uri: front.mp4}}}", "mqtt.homeassistant.enabled=true")
    sink = connected(one)
    assert collector.wait_for(lambda c: last(c, front.camera_count) == b"" and last(c, people["front"]) == b"")
    send(sink, "front", 1, people=2)
    assert collector.wait_for(lambda c: last(c, front.count) == b"2")
    sink.close()
    assert collector.wait_for(lambda c: last(c, garden.camera_count) == b"" and last(c, people["garden"]) == b"")
    collector.close()


def test_a_quiet_cameras_count_is_zero_and_leaves_the_devices_total_until_its_next_frame(broker: Mosquitto) -> None:
    config = make_config(broker, TWO)
    front = Topics.from_config(config)
    garden = front.for_camera("garden")
    collector = Collector(broker, [front.count, front.camera_count, garden.camera_count])
    sink = connected(config)
    send(sink, "front", 0, people=1)
    send(sink, "garden", 0, people=2)
    assert collector.wait_for(lambda c: last(c, front.count) == b"3")
    sink.write(CameraQuiet("garden"))  # the daemon: no frame from it for source.stall_timeout
    assert collector.wait_for(lambda c: last(c, front.count) == b"1" and last(c, garden.camera_count) == b"0")
    assert last(collector, front.camera_count) == b"1"
    sink.write(CameraQuiet("attic"))  # not one of ours: nothing
    send(sink, "garden", 1, people=2)  # it delivers again
    assert collector.wait_for(lambda c: last(c, front.count) == b"3" and last(c, garden.camera_count) == b"2")
    sink.close()
    collector.close()


def test_a_start_without_a_camera_this_daemon_had_clears_its_entities_before_its_states(broker: Mosquitto) -> None:
    """This device's retained meta lists the cameras it had. A start whose config no longer names one
    clears it as a reload would: its discovery configs emptied before the states they read (Home
    Assistant would render an emptied state through a config's template). A camera the meta never
    listed is left alone: another daemon's under a shared prefix."""
    common = ("mqtt.homeassistant.enabled=true", "analysis.enabled=true", "analysis.behaviours.falls.enabled=true")
    config = make_config(broker, TWO, *common, f"analysis.zones=[{DOOR}, {YARD}]")
    front = Topics.from_config(config)
    garden, attic = front.for_camera("garden"), front.for_camera("attic")
    entities = [
        camera_people_config_topic("homeassistant", "testpi", "garden"),
        fall_config_topic("homeassistant", "testpi", "garden"),
        *(t for t, _ in zone_discovery_messages("homeassistant", "testpi", garden, ["yard"])),
    ]
    states = [garden.zone("yard"), garden.fall, garden.camera_count]
    collector = Collector(broker, ["homeassistant/#", f"{front.prefix}/#"])
    sink = connected(config)
    for camera in ("front", "garden"):  # someone in each camera's zones: retained zone, fall and count states
        stage = make_analysis(config, camera)
        assert stage is not None
        sink.write(output_of(stage.apply(FrameResult(0, 1.8e9, 0.0, 640, 480, camera, (walker(100.0, 7),))), STAMP))
    assert collector.wait_for(lambda c: all(last(c, t) for t in [*entities, *states]))
    sink.close()
    collector.client.publish(attic.camera_count, b"4", qos=1, retain=True).wait_for_publish(5)

    one = make_config(broker, "cameras={front: {source: {uri: front.mp4}}}", *common, f"analysis.zones=[{DOOR}]")
    sink = connected(one)
    assert collector.wait_for(lambda c: all(last(c, t) == b"" for t in [*entities, *states]))
    sink.close()
    emptied = [m.topic for m in collector.messages if m.payload == b"" and m.topic in [*entities, *states]]
    assert max(emptied.index(t) for t in entities) < min(emptied.index(t) for t in states), emptied
    assert last(collector, attic.camera_count) == b"4"
    collector.close()
    late = Collector(broker, ["homeassistant/#", f"{front.prefix}/#"])
    assert late.wait_for(lambda c: bool(c.on(front.meta)))
    assert not {m.topic for m in late.messages} & {*entities, *states}
    late.close()
