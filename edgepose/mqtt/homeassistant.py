"""Home Assistant MQTT discovery: a "people in view" sensor and a "processed fps" sensor.

Follows Home Assistant's discovery convention: one retained JSON config per entity at
``<discovery_prefix>/sensor/<node_id>/<object_id>/config``, sharing one ``device`` block and our
``available`` topic (``online``/``offline``), so the entities go unavailable with the daemon.
"""

from __future__ import annotations

import re
from typing import Any

from edgepose import __version__
from edgepose.mqtt.topics import Topics


def node_id(device_id: str) -> str:
    """Home Assistant allows only ``[a-zA-Z0-9_-]`` in node and object ids."""
    return "edgepose_" + re.sub(r"[^A-Za-z0-9_-]", "_", device_id)


def discovery_messages(discovery_prefix: str, device_id: str, topics: Topics) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, config document)`` for each entity; publish each retained."""
    node = node_id(device_id)
    device = {
        "identifiers": [node],
        "name": f"edgepose {device_id}",
        "manufacturer": "edgepose",
        "model": "pose estimation",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": topics.available,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    }
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
