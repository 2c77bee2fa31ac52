"""Home Assistant discovery of zone entities: configs, the shared device, and removal of gone zones."""

from __future__ import annotations

import json

import pytest

from edgepose.mqtt.homeassistant import (
    discovery_messages,
    is_stale_zone_config,
    zone_discovery_messages,
    zone_removal_messages,
    zone_state_topic,
)
from edgepose.mqtt.topics import Topics

TOPICS = Topics("edgepose/livingroom", "cam0")


def test_two_entities_per_zone_sharing_the_device_block() -> None:
    messages = dict(zone_discovery_messages("homeassistant", "livingroom", TOPICS, ["doorway", "sofa"]))
    assert list(messages) == [
        "homeassistant/binary_sensor/edgepose_livingroom/zone_cam0_doorway/config",
        "homeassistant/sensor/edgepose_livingroom/zone_cam0_doorway/config",
        "homeassistant/binary_sensor/edgepose_livingroom/zone_cam0_sofa/config",
        "homeassistant/sensor/edgepose_livingroom/zone_cam0_sofa/config",
    ]
    device = discovery_messages("homeassistant", "livingroom", TOPICS)[0][1]["device"]
    occupied, count = list(messages.values())[:2]
    assert occupied["device"] == count["device"] == device  # one device in Home Assistant
    assert occupied["state_topic"] == count["state_topic"] == "edgepose/livingroom/cam0/zones/doorway"
    assert occupied["device_class"] == "occupancy" and occupied["availability_topic"] == TOPICS.available
    unique = [m["unique_id"] for m in messages.values()]
    assert len(set(unique)) == 4


@pytest.mark.parametrize(("occupied", "count"), [(True, 2), (False, 0)])
def test_value_templates_read_the_zone_state(occupied: bool, count: int) -> None:
    """The templates, rendered as Home Assistant would (Jinja), give the entity states."""
    jinja2 = pytest.importorskip("jinja2")
    state = {"occupied": occupied, "count": count}
    binary, sensor = (doc for _, doc in zone_discovery_messages("homeassistant", "pi", TOPICS, ["a"]))
    render = lambda doc: jinja2.Template(doc["value_template"]).render(value_json=state)  # noqa: E731
    assert render(binary) == (binary["payload_on"] if occupied else binary["payload_off"])
    assert render(sensor) == str(count)


def retained(zone: str, camera: str = "cam0", prefix: str = "edgepose/livingroom") -> tuple[str, bytes]:
    topics = Topics(prefix, camera)
    topic, doc = zone_discovery_messages("homeassistant", "livingroom", topics, [zone])[0]
    return topic, json.dumps(doc).encode()


# (retained config, stale?)
STALE_CASES = [
    (retained("kitchen"), True),  # a zone no longer configured: remove it
    (retained("doorway"), False),
    (retained("kitchen", camera="cam1"), False),  # another camera's zone: not ours to remove
    (
        ("homeassistant/sensor/edgepose_livingroom/people/config", b'{"state_topic": "edgepose/livingroom/count"}'),
        False,
    ),  # the people sensor
    ((retained("kitchen")[0], b""), False),  # already removed
    ((retained("kitchen")[0], b"not json"), False),
]


@pytest.mark.parametrize(("message", "stale"), STALE_CASES)
def test_stale_zone_configs(message: tuple[str, bytes], stale: bool) -> None:
    topic, payload = message
    assert is_stale_zone_config(topic, payload, "homeassistant", "livingroom", TOPICS, ["doorway"]) == stale


def test_removal_is_an_empty_retained_config_per_entity() -> None:
    removals = zone_removal_messages("homeassistant", "livingroom", "cam0", ["kitchen"])
    configs = [t for t, _ in zone_discovery_messages("homeassistant", "livingroom", TOPICS, ["kitchen"])]
    assert [t for t, _ in removals] == configs
    assert all(payload == b"" for _, payload in removals)
    assert zone_state_topic(TOPICS, "kitchen") == "edgepose/livingroom/cam0/zones/kitchen"
