"""Home Assistant MQTT discovery: a "people in view" sensor, a "processed fps" sensor (diagnostic;
only with stats), per zone an "occupied" binary sensor and a "people" sensor, with fall detection a
"fall detected" binary sensor per camera, and with several cameras a "people in view" sensor per
camera (:func:`camera_discovery_messages`; the device-wide one then reads the total).

Names are one style: lower case, the camera first wherever an entity is a camera's (``cam0 doorway
occupied``), so two cameras' same-named zones never collide; Home Assistant puts the device's name
in front (``edgepose <device> cam0 doorway occupied``, ``binary_sensor.edgepose_<device>_cam0_doorway_occupied``).
Unique ids carry the camera too, and never change with the number of cameras.

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

SUPPORT_URL = "https://github.com/edgepose/edgepose"


def node_id(device_id: str) -> str:
    """Home Assistant allows only ``[a-zA-Z0-9_-]`` in node and object ids."""
    return "edgepose_" + re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


ZONE_COMPONENTS = ("binary_sensor", "sensor")  # occupied, count
ZONE_OBJECT_PREFIX = "zone_"


def device_block(device_id: str, url: str = "") -> dict[str, Any]:
    """The ``device`` every entity of this daemon shares (one device in Home Assistant); ``url``: its
    ``configuration_url`` (the preview or health page), none when empty."""
    node = node_id(device_id)
    block = {
        "identifiers": [node],
        "name": f"edgepose {device_id}",
        "manufacturer": "edgepose",
        "model": "pose estimation",
        "sw_version": __version__,
    }
    return {**block, "configuration_url": url} if url else block


def origin_block() -> dict[str, str]:
    """What published the config (Home Assistant logs it with the entity's discovery)."""
    return {"name": "edgepose", "sw_version": __version__, "support_url": SUPPORT_URL}


def configuration_url(preview: tuple[bool, str, int], health: tuple[bool, str, int], hostname: str) -> str:
    """The page Home Assistant's device links to: the preview when served, else the health page, else
    none. Each is ``(enabled, bind host, port)``; a wildcard bind (``0.0.0.0``, ``::``, empty) is
    reached by ``hostname``. A port of 0 (any free one) is not known in advance: no link then."""
    for (enabled, host, port), path in ((preview, "/"), (health, "/healthz")):
        if enabled and port:
            name = hostname if host in ("", "0.0.0.0", "::") else host
            return f"http://{f'[{name}]' if ':' in name else name}:{port}{path}"
    return ""


def _common(device_id: str, topics: Topics, url: str = "") -> dict[str, Any]:
    return {
        "availability_topic": topics.available,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device_block(device_id, url),
        "origin": origin_block(),
    }


def _template(expression: str, empty: str = "None") -> str:
    """A template that renders ``empty`` (``None``: Home Assistant's unknown) for an empty or non-JSON
    state, as a state emptied by a clean-up is, instead of logging a template error."""
    return "{{ (" + expression + ") if value_json is defined else '" + empty + "' }}"


def discovery_messages(
    discovery_prefix: str, device_id: str, topics: Topics, *, stats: bool = True, url: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, config document)`` for each device-wide entity (the fps sensor only with ``stats``);
    publish each retained. ``url``: the device's ``configuration_url`` (:func:`configuration_url`)."""
    node = node_id(device_id)
    common = _common(device_id, topics, url)
    people = {
        **common,
        "name": "people in view",
        "unique_id": f"{node}_people",
        "state_topic": topics.count,
        "value_template": _template("value_json"),  # an emptied count: unknown (a bare "" is ignored)
        "state_class": "measurement",
        "icon": "mdi:account-group",
    }
    fps = {
        **common,
        "name": "processed fps",
        "unique_id": f"{node}_fps",
        "state_topic": topics.stats,
        "value_template": _template("value_json.processed_fps"),
        "unit_of_measurement": "fps",
        "state_class": "measurement",
        "entity_category": "diagnostic",
        "icon": "mdi:speedometer",
    }
    out = [(f"{discovery_prefix}/sensor/{node}/people/config", people)]
    return [*out, (fps_config_topic(discovery_prefix, device_id), fps)] if stats else out


def fps_config_topic(discovery_prefix: str, device_id: str) -> str:
    return f"{discovery_prefix}/sensor/{node_id(device_id)}/fps/config"


def is_stale_fps_config(
    topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics, stats: bool
) -> bool:
    """Whether a retained config is this device's fps sensor while stats are off (``mqtt.stats_interval:
    0``): then publish an empty retained config to it, or it shows an earlier run's value."""
    if stats or not payload or topic != fps_config_topic(discovery_prefix, device_id):
        return False
    return config_state_topic(payload) == topics.stats


CAMERA_PEOPLE_PREFIX = "people_"


def camera_people_object_id(camera: str) -> str:
    """``people_<camera>``: one people sensor per camera (with several cameras)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{CAMERA_PEOPLE_PREFIX}{camera}")


def camera_people_config_topic(discovery_prefix: str, device_id: str, camera: str) -> str:
    return f"{discovery_prefix}/sensor/{node_id(device_id)}/{camera_people_object_id(camera)}/config"


def camera_discovery_messages(
    discovery_prefix: str, device_id: str, topics: Topics, *, url: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """The camera's "people in view" ``sensor`` reading ``<prefix>/<camera>/count`` (published with
    several cameras only, when ``<prefix>/count`` is the device's total); publish retained."""
    node = node_id(device_id)
    config = {
        **_common(device_id, topics, url),
        "name": f"{topics.camera} people in view",
        "unique_id": f"{node}_{camera_people_object_id(topics.camera)}",
        "state_topic": topics.camera_count,
        "value_template": _template("value_json"),
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


def is_stale_camera_people_config(
    topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics, several: bool
) -> bool:
    """Whether a retained config is this camera's own people sensor while the device runs one camera
    (its count is then ``<prefix>/count`` alone): then publish an empty retained config to it."""
    if several or not payload or topic != camera_people_config_topic(discovery_prefix, device_id, topics.camera):
        return False
    return config_state_topic(payload) == topics.camera_count


def zone_object_id(camera: str, zone: str) -> str:
    """``zone_<camera>_<zone>``: the camera is part of it so two cameras' zones never collide."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{ZONE_OBJECT_PREFIX}{camera}_{zone}")


def zone_discovery_messages(
    discovery_prefix: str, device_id: str, topics: Topics, zones: Sequence[str], *, url: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """Per zone an occupancy ``binary_sensor`` and a count ``sensor`` reading the retained zone state
    (``<prefix>/<camera>/zones/<zone>``, schema ``edgepose.zone/1``), named ``<camera> <zone> ...``;
    publish each retained."""
    node = node_id(device_id)
    common = _common(device_id, topics, url)
    out: list[tuple[str, dict[str, Any]]] = []
    for zone in zones:
        obj = zone_object_id(topics.camera, zone)
        state = zone_state_topic(topics, zone)
        occupied = {
            **common,
            "name": f"{topics.camera} {zone} occupied",
            "unique_id": f"{node}_{obj}_occupied",
            "state_topic": state,
            "value_template": _template("'ON' if value_json.occupied else 'OFF'"),
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "occupancy",
        }
        count = {
            **common,
            "name": f"{topics.camera} {zone} people",
            "unique_id": f"{node}_{obj}_count",
            "state_topic": state,
            "value_template": _template("value_json.count"),
            "state_class": "measurement",
            "icon": "mdi:account-multiple",
        }
        out.append((f"{discovery_prefix}/binary_sensor/{node}/{obj}/config", occupied))
        out.append((f"{discovery_prefix}/sensor/{node}/{obj}/config", count))
    return out


def zone_config_filter(discovery_prefix: str, device_id: str) -> str:
    """Subscription filter matching every retained zone entity config of this device."""
    return f"{discovery_prefix}/+/{node_id(device_id)}/+/config"


def is_stale_zone_config(
    topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics, zones: Sequence[str]
) -> bool:
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


def zone_removal_messages(
    discovery_prefix: str, device_id: str, camera: str, zones: Sequence[str]
) -> list[tuple[str, bytes]]:
    """Empty retained configs that make Home Assistant remove these zones' entities."""
    node = node_id(device_id)
    return [
        (f"{discovery_prefix}/{c}/{node}/{zone_object_id(camera, z)}/config", b"")
        for z in zones
        for c in ZONE_COMPONENTS
    ]


FALL_OBJECT_PREFIX = "fall_"


def fall_object_id(camera: str) -> str:
    """``fall_<camera>``: one fall sensor per camera."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{FALL_OBJECT_PREFIX}{camera}")


def fall_discovery_messages(
    discovery_prefix: str, device_id: str, topics: Topics, *, url: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """The camera's "fall detected" ``binary_sensor`` (device class ``safety``): on from a person's
    ``fall`` until their ``recovered``, read from the retained ``<prefix>/<camera>/fall``
    (``edgepose.fall/1``, whose ``track_ids`` become the entity's attributes); publish retained."""
    node = node_id(device_id)
    obj = fall_object_id(topics.camera)
    config = {
        **_common(device_id, topics, url),
        "name": f"{topics.camera} fall detected",
        "unique_id": f"{node}_{obj}",
        "state_topic": topics.fall,
        "value_template": _template("'ON' if value_json.detected else 'OFF'"),
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "safety",
        "json_attributes_topic": topics.fall,
        "json_attributes_template": _template(
            "{'track_ids': value_json.track_ids, 'frame': value_json.frame} | tojson", "{}"
        ),
    }
    return [(fall_config_topic(discovery_prefix, device_id, topics.camera), config)]


def fall_config_topic(discovery_prefix: str, device_id: str, camera: str) -> str:
    return f"{discovery_prefix}/binary_sensor/{node_id(device_id)}/{fall_object_id(camera)}/config"


def is_stale_fall_config(
    topic: str, payload: bytes, discovery_prefix: str, device_id: str, topics: Topics, falls_on: bool
) -> bool:
    """Whether a retained config is this camera's fall sensor while fall detection is off: then
    publish an empty retained config to it (Home Assistant removes the entity)."""
    if falls_on or not payload or topic != fall_config_topic(discovery_prefix, device_id, topics.camera):
        return False
    return config_state_topic(payload) == topics.fall
