"""What every MQTT connection starts with: ``online``, ``meta`` and Home Assistant discovery, all
retained; and what a reload changes in them.

Pure functions of the :class:`~edgepose.sinks.layout.Layout` in effect: the sink keeps the list
and hands it to the transport, which sends it first on each connection.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from edgepose.documents.poses import encode
from edgepose.mqtt.buffer import Message
from edgepose.mqtt.homeassistant import (
    camera_discovery_messages,
    configuration_url,
    discovery_messages,
    fall_discovery_messages,
    zone_discovery_messages,
)
from edgepose.sinks.layout import Layout


def announcements(layout: Layout, meta: dict[str, Any]) -> list[Message]:
    """``online`` and ``meta`` (with its ``topics``), then discovery if enabled: the device's sensors,
    then per camera its zones' entities, its people sensor (several cameras) and its fall sensor
    (falls on)."""
    mqtt = layout.config.mqtt
    qos = mqtt.qos_status
    meta_doc = layout.meta_with_topics(meta)
    messages = [
        Message(layout.topics.available, b"online", qos, True, kind=""),
        Message(layout.topics.meta, encode(meta_doc).encode(), qos, True, kind=""),
    ]
    if not mqtt.homeassistant.enabled:
        return messages
    prefix, device = mqtt.homeassistant.discovery_prefix, layout.config.device_id
    s = layout.config.service
    url = configuration_url(
        (s.preview.enabled, s.preview.host, s.preview.port),
        (s.health.enabled, s.health.host, s.health.port),
        socket.gethostname(),
    )
    entities = discovery_messages(prefix, device, layout.topics, stats=mqtt.stats_interval > 0, url=url)
    for output in layout.cameras.values():
        entities += zone_discovery_messages(prefix, device, output.topics, output.zones, url=url)
        if layout.several and mqtt.publish_count:
            entities += camera_discovery_messages(prefix, device, output.topics, url=url)
        if layout.falls_on:
            entities += fall_discovery_messages(prefix, device, output.topics, url=url)
    messages += [Message(topic, encode(doc).encode(), qos, True, kind="") for topic, doc in entities]
    return messages


def changes(before: Sequence[Message], after: Sequence[Message]) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` to publish retained when the announcements go from ``before`` to
    ``after``: each new or changed one, then an empty one for each gone (a removed zone's, camera's
    or fall sensor's config: Home Assistant removes the entity)."""
    old = {m.topic: m.payload for m in before}
    new = {m.topic: m for m in after}
    out = [(topic, m.payload) for topic, m in new.items() if old.get(topic) != m.payload]
    return out + [(topic, b"") for topic in old.keys() - new.keys()]
