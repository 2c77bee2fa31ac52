"""Home Assistant MQTT discovery: a "people in view" sensor, a "processed fps" sensor, per zone
an "occupied" binary sensor and a "people in zone" sensor, with fall detection a "fall
detected" binary sensor per camera, and with several cameras a "people in view" sensor per camera
(:func:`camera_discovery_messages`; the device-wide one then reads the total).

Follows Home Assistant's discovery convention: one retained JSON config per entity at
``<discovery_prefix>/<component>/<node_id>/<object_id>/config``, sharing one ``device`` block and
our ``available`` topic (``online``/``offline``), so the entities go unavailable with the daemon.
An empty retained config removes an entity: :func:`zone_removal_messages` for a zone that is no
longer configured (found by :func:`is_stale_zone_config` among the retained configs at connect), and
the fall sensor once fall detection is turned off (:func:`is_stale_fall_config`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from edgepose import __version__
from edgepose.mqtt.topics import Topics


def node_id(device_id: str) -> str:
    """Home Assistant allows only ``[a-zA-Z0-9_-]`` in node and object ids."""
    return "edgepose_" + re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


ZONE_COMPONENTS = ("binary_sensor", "sensor")  # occupied, count
ZONE_OBJECT_PREFIX = "zone_"


def device_block(device_id: str) -> dict[str, Any]:
    """The ``device`` every entity of this daemon shares (one device in Home Assistant)."""
    node = node_id(device_id)
    return {
        "identifiers": [node],
        "name": f"edgepose {device_id}",
        "manufacturer": "edgepose",
        "model": "pose estimation",
        "sw_version": __version__,
    }


def _common(device_id: str, topics: Topics) -> dict[str, Any]:
    return {
        "availability_topic": topics.available,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device_block(device_id),
    }


def discovery_messages(discovery_prefix: str, device_id: str, topics: Topics) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, config document)`` for each entity; publish each retained."""
    node = node_id(device_id)
    common = _common(device_id, topics)
    people = {
        **common,
        "name": "People in view",
        "unique_id": f"{node}_people",
        "state_topic": topics.count,
        "state_class": "measurement",
        "icon": "mdi:account-group",
    }
    fps = {
        **common,
        "name": "Processed fps",
        "unique_id": f"{node}_fps",
        "state_topic": topics.stats,
        "value_template": "{{ value_json.processed_fps }}",
        "unit_of_measurement": "fps",
        "state_class": "measurement",
        "icon": "mdi:speedometer",
    }
    return [
        (f"{discovery_prefix}/sensor/{node}/people/config", people),
        (f"{discovery_prefix}/sensor/{node}/fps/config", fps),
    ]


CAMERA_PEOPLE_PREFIX = "people_"


def camera_people_object_id(camera: str) -> str:
    """``people_<camera>``: one people sensor per camera (with several cameras)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{CAMERA_PEOPLE_PREFIX}{camera}")


def camera_people_config_topic(discovery_prefix: str, device_id: str, camera: str) -> str:
    return f"{discovery_prefix}/sensor/{node_id(device_id)}/{camera_people_object_id(camera)}/config"


def camera_discovery_messages(discovery_prefix: str, device_id: str,
                              topics: Topics) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """The camera's "people in view" ``sensor`` reading ``<prefix>/<camera>/count`` (published with
    several cameras only, when ``<prefix>/count`` is the device's total); publish retained."""
    node = node_id(device_id)
    config = {
        **_common(device_id, topics),
        "name": f"{topics.camera} people in view",
        "unique_id": f"{node}_{camera_people_object_id(topics.camera)}",
        "state_topic": topics.camera_count,
        "state_class": "measurement",
        "icon": "mdi:account-group",
    }
    return [(camera_people_config_topic(discovery_prefix, device_id, topics.camera), config)]


def config_state_topic(payload: bytes) -> str | None:
    """The ``state_topic`` of a retained discovery config, None when the payload is not such a config."""
    try:
        value = json.loads(payload).get("state_topic", "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def is_stale_camera_people_config(topic: str, payload: bytes, discovery_prefix: str, device_id: str,
                                  topics: Topics, several: bool) -> bool:  # fmt: skip
    """Whether a retained config is this camera's own people sensor while the device runs one camera
    (its count is then ``<prefix>/count`` alone): then publish an empty retained config to it."""
    if several or not payload or topic != camera_people_config_topic(discovery_prefix, device_id, topics.camera):
        return False
    return config_state_topic(payload) == topics.camera_count


def zone_object_id(camera: str, zone: str) -> str:
    """``zone_<camera>_<zone>``: the camera is part of it so two cameras' zones never collide."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{ZONE_OBJECT_PREFIX}{camera}_{zone}")


def zone_discovery_messages(discovery_prefix: str, device_id: str, topics: Topics,
                            zones: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """Per zone an occupancy ``binary_sensor`` and a count ``sensor`` reading the retained zone state
    (``<prefix>/<camera>/zones/<zone>``, schema ``edgepose.zone/1``); publish each retained."""
    node = node_id(device_id)
    common = _common(device_id, topics)
    out: list[tuple[str, dict[str, Any]]] = []
    for zone in zones:
        obj = zone_object_id(topics.camera, zone)
        state = zone_state_topic(topics, zone)
        occupied = {
            **common,
            "name": f"{zone} occupied",
            "unique_id": f"{node}_{obj}_occupied",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.occupied else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "occupancy",
        }
        count = {
            **common,
            "name": f"{zone} people",
            "unique_id": f"{node}_{obj}_count",
            "state_topic": state,
            "value_template": "{{ value_json.count }}",
            "state_class": "measurement",
            "icon": "mdi:account-multiple",
        }
        out.append((f"{discovery_prefix}/binary_sensor/{node}/{obj}/config", occupied))
        out.append((f"{discovery_prefix}/sensor/{node}/{obj}/config", count))
    return out


def zone_config_filter(discovery_prefix: str, device_id: str) -> str:
    """Subscription filter matching every retained zone entity config of this device."""
    return f"{discovery_prefix}/+/{node_id(device_id)}/+/config"


def is_stale_zone_config(topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics,
                         zones: Sequence[str]) -> bool:  # fmt: skip
    """Whether a retained config (``topic``, ``payload``) is one of this device's and camera's zone
    entities whose zone is no longer configured: then publish an empty retained config to it.

    Read from the config's own ``state_topic``, so another camera's zones (or another daemon's
    entities under the same device) are never taken for ours.
    """
    head = f"{discovery_prefix}/"
    if not payload or not topic.startswith(head) or not topic.endswith("/config"):
        return False
    parts = topic[len(head) : -len("/config")].split("/")
    if len(parts) != 3 or parts[0] not in ZONE_COMPONENTS or parts[1] != node_id(device_id):
        return False
    state_topic = config_state_topic(payload)
    ours = zone_state_topic(topics, "")
    if state_topic is None or not state_topic.startswith(ours):
        return False
    return state_topic[len(ours) :] not in zones


def zone_state_topic(topics: Topics, zone: str) -> str:
    """``<prefix>/<camera>/zones/<zone>``: the retained state both entities of a zone read."""
    return topics.zone(zone)


def zone_removal_messages(discovery_prefix: str, device_id: str, camera: str,
                          zones: Sequence[str]) -> list[tuple[str, bytes]]:  # fmt: skip
    """Empty retained configs that make Home Assistant remove these zones' entities."""
    node = node_id(device_id)
    return [(f"{discovery_prefix}/{c}/{node}/{zone_object_id(camera, z)}/config", b"")
            for z in zones for c in ZONE_COMPONENTS]  # fmt: skip


FALL_OBJECT_PREFIX = "fall_"


def fall_object_id(camera: str) -> str:
    """``fall_<camera>``: one fall sensor per camera."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{FALL_OBJECT_PREFIX}{camera}")


def fall_discovery_messages(discovery_prefix: str, device_id: str, topics: Topics) -> list[tuple[str, dict[str, Any]]]:
    """The camera's "fall detected" ``binary_sensor`` (device class ``safety``): on from a person's
    ``fall`` until their ``recovered``, read from the retained ``<prefix>/<camera>/fall``
    (``edgepose.fall/1``, whose ``track_ids`` become the entity's attributes); publish retained."""
    node = node_id(device_id)
    obj = fall_object_id(topics.camera)
    config = {
        **_common(device_id, topics),
        "name": f"{topics.camera} fall detected",
        "unique_id": f"{node}_{obj}",
        "state_topic": topics.fall,
        "value_template": "{{ 'ON' if value_json.detected else 'OFF' }}",
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "safety",
        "json_attributes_topic": topics.fall,
        "json_attributes_template": "{{ {'track_ids': value_json.track_ids, 'frame': value_json.frame} | tojson }}",
    }
    return [(fall_config_topic(discovery_prefix, device_id, topics.camera), config)]


def fall_config_topic(discovery_prefix: str, device_id: str, camera: str) -> str:
    return f"{discovery_prefix}/binary_sensor/{node_id(device_id)}/{fall_object_id(camera)}/config"


def is_stale_fall_config(topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics,
                         falls_on: bool) -> bool:  # fmt: skip
    """Whether a retained config is this camera's fall sensor while fall detection is off: then
    publish an empty retained config to it (Home Assistant removes the entity)."""
    if falls_on or not payload or topic != fall_config_topic(discovery_prefix, device_id, topics.camera):
        return False
    return config_state_topic(payload) == topics.fall
