"""Home Assistant discovery as a real Home Assistant showed it must be (``make test-ha`` runs the same
cases against one): names and ids that carry the camera, one naming style, the fps sensor a diagnostic
present only with stats, an ``origin`` and a ``configuration_url``, templates that survive an emptied
state, stale configs emptied before the states they read, and counts held by ``settle``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgepose.mqtt.homeassistant import (
    camera_discovery_messages,
    configuration_url,
    discovery_messages,
    fall_discovery_messages,
    is_stale_fps_config,
    zone_discovery_messages,
)
from edgepose.mqtt.settle import Settle
from edgepose.mqtt.topics import Topics
from edgepose.pose import FrameResult
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import output_of
from tests.builders.mqtt import LEFT, META, STAMP, analysis_config, make_config, run_frames, wait_connected, walker
from tests.mosquitto import Collector, Mosquitto

FRONT, BACK = Topics("edgepose/hall", "front"), Topics("edgepose/hall", "back")


def every_config(topics: Topics, stats: bool = True, url: str = "") -> list[dict]:
    messages = discovery_messages("homeassistant", "hall", topics, stats=stats, url=url)
    messages += zone_discovery_messages("homeassistant", "hall", topics, ["all"], url=url)
    messages += camera_discovery_messages("homeassistant", "hall", topics, url=url)
    messages += fall_discovery_messages("homeassistant", "hall", topics, url=url)
    return [doc for _, doc in messages]


def test_two_cameras_same_zone_give_distinct_names_and_ids_that_do_not_depend_on_the_other() -> None:
    front = zone_discovery_messages("homeassistant", "hall", FRONT, ["all"])
    back = zone_discovery_messages("homeassistant", "hall", BACK, ["all"])
    names = [doc["name"] for _, doc in front + back]
    assert names == ["front all occupied", "front all people", "back all occupied", "back all people"]
    ids = [doc["unique_id"] for _, doc in front + back]
    assert len(set(ids)) == 4 and all(("_front_" in i) != ("_back_" in i) for i in ids)
    # The same camera alone gives the same ids (a camera added or removed changes no other's)
    assert [doc["unique_id"] for _, doc in zone_discovery_messages("homeassistant", "hall", BACK, ["all"])] == ids[2:]


def test_one_naming_style_lower_case_with_the_camera_first() -> None:
    names = [doc["name"] for doc in every_config(FRONT)]
    assert names == [
        "people in view",
        "processed fps",
        "front all occupied",
        "front all people",
        "front people in view",
        "front fall detected",
    ]
    assert all(n == n.lower() for n in names)


def test_fps_is_a_diagnostic_and_absent_without_stats() -> None:
    with_stats = {doc["unique_id"]: doc for doc in every_config(FRONT)}
    assert with_stats["edgepose_hall_fps"]["entity_category"] == "diagnostic"
    assert all("entity_category" not in d for k, d in with_stats.items() if k != "edgepose_hall_fps")
    assert "edgepose_hall_fps" not in {doc["unique_id"] for doc in every_config(FRONT, stats=False)}
    topic, fps = discovery_messages("homeassistant", "hall", FRONT)[1]
    payload = json.dumps(fps).encode()
    assert is_stale_fps_config(topic, payload, "homeassistant", "hall", FRONT, stats=False)
    assert not is_stale_fps_config(topic, payload, "homeassistant", "hall", FRONT, stats=True)
    assert not is_stale_fps_config(topic, b"", "homeassistant", "hall", FRONT, stats=False)


def test_every_config_has_the_origin_and_the_device_link() -> None:
    for doc in every_config(FRONT, url="http://pi.local:9181/"):
        assert doc["origin"]["name"] == "edgepose" and doc["origin"]["sw_version"]
        assert doc["device"]["configuration_url"] == "http://pi.local:9181/"
    assert all("configuration_url" not in doc["device"] for doc in every_config(FRONT))


@pytest.mark.parametrize(
    ("preview", "health", "url"),
    [
        ((True, "127.0.0.1", 9181), (True, "0.0.0.0", 9180), "http://127.0.0.1:9181/"),
        ((False, "127.0.0.1", 9181), (True, "0.0.0.0", 9180), "http://pi:9180/healthz"),
        ((True, "::", 9181), (False, "", 9180), "http://pi:9181/"),
        ((False, "", 9181), (True, "::1", 9180), "http://[::1]:9180/healthz"),
        ((False, "", 9181), (True, "127.0.0.1", 0), ""),  # any free port: not known in advance
        ((False, "", 9181), (False, "", 9180), ""),
    ],
)
def test_configuration_url_is_the_preview_else_the_health_page(preview, health, url) -> None:
    assert configuration_url(preview, health, "pi") == url


def test_templates_render_unknown_for_an_emptied_state() -> None:
    """Home Assistant renders a retained state emptied by a clean-up through the template; ``value_json``
    is then undefined. Rendered with Jinja's strict undefined, as Home Assistant does."""
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for doc in every_config(FRONT):
        for key in ("value_template", "json_attributes_template"):
            if key in doc:
                assert env.from_string(doc[key]).render() in ("None", "{}"), (doc["name"], key)
    occupied = zone_discovery_messages("homeassistant", "hall", FRONT, ["all"])[0][1]
    assert env.from_string(occupied["value_template"]).render(value_json={"occupied": True}) == "ON"
    # The people sensors too: Home Assistant ignores a bare empty state of a numeric sensor (it would
    # keep showing a count a start emptied as stale), but shows a rendered "None" as unknown.
    people = [doc for doc in every_config(FRONT) if doc["name"].endswith("people in view")]
    assert len(people) == 2
    for doc in people:
        template = env.from_string(doc["value_template"])
        assert template.render() == "None" and template.render(value_json=2) == "2", doc["name"]


def test_settle_holds_a_change_and_publishes_the_latest_when_due() -> None:
    s = Settle(1.0)
    assert s.offer("c", b"3", 0.0)
    assert not s.offer("c", b"2", 0.2) and not s.offer("c", b"4", 0.5)
    assert s.due(0.9) == []
    assert s.due(1.0) == [("c", b"4")]  # the latest value, once
    assert s.due(1.5) == []
    assert not s.offer("c", b"5", 1.2)
    assert not s.offer("c", b"4", 1.3)  # back to what was published: nothing to publish
    assert s.due(2.5) == []
    assert s.offer("c", b"6", 2.5)


def test_settle_forgets_what_a_reload_removed_and_zero_holds_nothing() -> None:
    s = Settle(1.0)
    s.offer("zone/a", b"x", 0.0)
    s.offer("zone/a", b"y", 0.1)
    s.keep_only({"zone/b"})
    assert s.due(5.0) == []
    zero = Settle(0.0)
    assert all(zero.offer("c", str(i).encode(), 0.0) for i in range(5))


def people_frame(i: int, people: int) -> FrameResult:
    poses = tuple(walker(100.0 + 50 * k, k) for k in range(people))
    return FrameResult(i, 1.8e9 + i, float(i), 640, 480, "cam0", poses)


@pytest.mark.parametrize(
    ("settle", "published"),
    [
        ("1.0", {0: b"2", 10: b"3", 20: b"2"}),  # the first value, then the latest when each hold ends
        ("0", {i: str(2 + i % 2).encode() for i in range(21)}),  # every change
    ],
)
def test_the_count_changes_at_most_once_per_settle(broker: Mosquitto, settle: str, published: dict) -> None:
    """Frames 0.1 s apart whose count flickers 2-3-2-3: held by ``settle``, the count topic changes once
    a second; with settle 0, at every frame. After each frame that publishes, the test waits for it to
    arrive (the transport sends only the latest value of a state topic), counting the messages before
    the frame is written. The sink's clock is the frames' alone, exactly 0.1 s a frame: however long
    the waits take, the hold ends at frames 10 and 20."""
    config = make_config(broker, "mqtt.homeassistant.enabled=true", f"mqtt.homeassistant.settle={settle}")
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.count])
    now = [0.0]
    sink = MqttSink(config, RunStats(), clock=lambda: now[0])
    sink.open(META)
    wait_connected(sink)
    for i in range(21):
        n = len(collector.on(topics.count))  # before the frame: its message may arrive at once
        sink.write(output_of(people_frame(i, 2 + i % 2), STAMP))
        if i in published:
            assert collector.wait_for(lambda c, n=n: len(c.on(topics.count)) > n), (i, collector.on(topics.count))
        now[0] = (i + 1) / 10  # not a sum of 0.1s: ten of them fall short of 1.0
    sink.close()
    counts = [m.payload for m in collector.on(topics.count)]
    collector.close()
    assert counts == list(published.values())


def test_stale_configs_are_emptied_before_the_states_they_read(broker: Mosquitto) -> None:
    """At start, a zone no longer configured: Home Assistant must see its config go before its state,
    or it renders the emptied state through the config's template (and logs an error)."""
    before = analysis_config(broker, LEFT, LEFT.replace("left", "gone"))
    topics = Topics.from_config(before)
    gone = [t for t, _ in zone_discovery_messages("homeassistant", "testpi", topics, ["gone"])]
    collector = Collector(broker, [*gone, topics.zone("gone")])
    sink = MqttSink(before, RunStats())
    sink.open(META)
    wait_connected(sink)
    run_frames(before, sink, [100])  # someone in both zones: each has a retained state
    assert collector.wait_for(lambda c: all(c.on(t) for t in [*gone, topics.zone("gone")]))
    sink.close()
    sink = MqttSink(analysis_config(broker, LEFT), RunStats())
    sink.open(META)
    wait_connected(sink)
    assert collector.wait_for(lambda c: sum(1 for m in c.messages if m.payload == b"") == 3)
    sink.close()
    emptied = [m.topic for m in collector.messages if m.payload == b""]
    collector.close()
    assert emptied[-1] == topics.zone("gone"), emptied


def test_a_start_empties_the_count_and_zone_states_a_killed_run_left_until_its_own_frames(broker: Mosquitto) -> None:
    """A run killed with SIGKILL leaves its last count and zone states retained (as a clean close
    does), and Home Assistant would show them as this run's. The next start empties them (unknown in
    Home Assistant) until its first frame sets them; a frame that comes before the connection wins
    over that clear."""
    config = analysis_config(broker, LEFT)
    topics = Topics.from_config(config)
    zone = topics.zone("left")
    collector = Collector(broker, [topics.count, zone])

    def last(topic: str) -> bytes | None:
        got = collector.on(topic)
        return got[-1].payload if got else None

    def started() -> MqttSink:
        sink = MqttSink(config, RunStats())
        sink.open(META)
        return sink

    sink = started()
    wait_connected(sink)
    run_frames(config, sink, [100])  # someone in the zone
    assert collector.wait_for(lambda c: last(topics.count) == b"1" and json.loads(last(zone) or b"{}").get("occupied"))
    sink.close()

    sink = started()
    wait_connected(sink)
    assert collector.wait_for(lambda c: last(topics.count) == b"" and last(zone) == b"")
    run_frames(config, sink, [100])
    assert collector.wait_for(lambda c: last(topics.count) == b"1" and json.loads(last(zone) or b"{}").get("occupied"))
    sink.close()

    sink = started()
    sink.write(output_of(people_frame(0, 2), STAMP))  # before the connection (it starts in the background)
    wait_connected(sink)
    assert collector.wait_for(lambda c: last(topics.count) == b"2")
    sink.close()
    collector.close()
    late = Collector(broker, [topics.count])
    assert late.wait_for(lambda c: bool(c.on(topics.count)))
    assert [m.payload for m in late.on(topics.count)] == [b"2"]
    late.close()


BLUEPRINTS = Path(__file__).resolve().parents[1] / "examples" / "blueprints" / "automation" / "edgepose"


class BlueprintLoader(yaml.SafeLoader):
    """Home Assistant's ``!input name`` tag, read as ``{"!input": name}``."""


BlueprintLoader.add_constructor("!input", lambda loader, node: {"!input": loader.construct_scalar(node)})


@pytest.mark.parametrize(
    ("name", "sensor", "config"),
    [
        ("zone_occupied.yaml", "zone", zone_discovery_messages("homeassistant", "hall", FRONT, ["all"])[0][1]),
        ("fall_alert.yaml", "fall_sensor", fall_discovery_messages("homeassistant", "hall", FRONT)[0][1]),
    ],
)
def test_blueprints_offer_exactly_edgeposes_sensors_and_use_only_their_inputs(name, sensor, config) -> None:
    """Each blueprint's entity selector matches the binary sensor edgepose announces (domain and device
    class), and every ``!input`` it uses is declared (Home Assistant refuses the blueprint otherwise;
    make test-ha loads and triggers them)."""
    blueprint = yaml.load((BLUEPRINTS / name).read_text(), BlueprintLoader)
    inputs = blueprint["blueprint"]["input"]
    (selector,) = inputs[sensor]["selector"]["entity"]["filter"]
    assert selector == {"integration": "mqtt", "domain": "binary_sensor", "device_class": config["device_class"]}
    used: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if set(node) == {"!input"}:
                used.add(node["!input"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in blueprint.items() if k != "blueprint"})
    assert used == set(inputs)
