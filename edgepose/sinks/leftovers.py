"""What an earlier run left retained on the broker that the settings in effect no longer make, found
at connect and removed (an empty retained message deletes a retained value).

For a configured camera: the states of zones no longer configured (while the analysis stage runs),
the fall state (falls off), the camera's own count (one camera now) and, with Home Assistant
discovery, their entities' configs (zones also when the stage is off: then every zone is gone).
Cameras not configured are left alone: the prefix may be shared.

Order matters to Home Assistant: a config is emptied before the state it reads (it would render the
emptied state through the config's template), so the configs' subscription is made first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edgepose.mqtt.homeassistant import (
    is_stale_camera_people_config,
    is_stale_fall_config,
    is_stale_fps_config,
    is_stale_zone_config,
    zone_config_filter,
)
from edgepose.mqtt.transport import MqttTransport
from edgepose.sinks.layout import Layout

log = logging.getLogger(__name__)


class Leftovers:
    """Watches this device's retained states and discovery configs on every connection and empties
    those the layout in effect (``layout()``, read at each message: a reload may change it) does not
    make. The handlers run on the transport's network thread."""

    def __init__(self, transport: MqttTransport, layout: Callable[[], Layout]) -> None:
        self.transport = transport
        self.layout = layout

    def watch(self) -> None:
        """Subscribe (before the transport starts). The states are watched whatever the settings at
        start, for every camera: a reload may turn the stage on or add a camera."""
        layout = self.layout()
        ha = layout.config.mqtt.homeassistant
        if ha.enabled:  # subscribed first: a stale entity's config is emptied before the state it reads
            self.transport.watch(zone_config_filter(ha.discovery_prefix, layout.config.device_id), self.stale_entity)
        topics = layout.topics
        self.transport.watch(topics.every_camera("zones/+"), self.zone_state)
        self.transport.watch(topics.every_camera("fall"), self.fall_state)
        self.transport.watch(topics.every_camera("count"), self.camera_count)

    def _clear(self, layout: Layout, topic: str) -> None:
        self.transport.set_state(topic, b"", layout.config.mqtt.qos_status)

    def zone_state(self, topic: str, payload: bytes) -> None:
        """A zone's state: emptied when its camera is configured and the zone is not (stage on)."""
        layout = self.layout()
        output = layout.cameras.get(layout.topics.camera_of(topic, "zones/") or "")
        if output is None or not payload or not layout.analysis_on:  # zones are ours only while the stage runs
            return
        zone = topic[len(output.topics.zone("")) :]
        if zone not in output.zones:
            log.info("mqtt: zone %r is no longer configured: clearing its retained state", zone)
            self._clear(layout, topic)

    def fall_state(self, topic: str, payload: bytes) -> None:
        """A configured camera's fall state while falls are off: emptied."""
        layout = self.layout()
        if payload and not layout.falls_on and layout.topics.camera_of(topic, "fall") in layout.cameras:
            log.info("mqtt: fall detection is off: clearing the retained fall state")
            self._clear(layout, topic)

    def camera_count(self, topic: str, payload: bytes) -> None:
        """A configured camera's own count with one camera (``<prefix>/count`` is the count): emptied."""
        layout = self.layout()
        if payload and not layout.several and layout.topics.camera_of(topic, "count") in layout.cameras:
            log.info(
                "mqtt: one camera now: clearing its retained count %s (%s is the count)", topic, layout.topics.count
            )
            self._clear(layout, topic)

    def stale_entity(self, topic: str, payload: bytes) -> None:
        """A retained discovery config of this device that the settings no longer make: emptied (Home
        Assistant removes the entity). Before the states they read."""
        layout = self.layout()
        mqtt = layout.config.mqtt
        prefix, device = mqtt.homeassistant.discovery_prefix, layout.config.device_id
        if is_stale_fps_config(topic, payload, prefix, device, layout.topics, mqtt.stats_interval > 0):
            log.info("mqtt: removing the Home Assistant entity %s (stats are off)", topic)
            self._clear(layout, topic)
            return
        for output in layout.cameras.values():
            if is_stale_zone_config(topic, payload, prefix, device, output.topics, output.zones):
                why = "its zone is no longer configured"
            elif is_stale_fall_config(topic, payload, prefix, device, output.topics, layout.falls_on):
                why = "fall detection is off"
            elif is_stale_camera_people_config(topic, payload, prefix, device, output.topics, layout.several):
                why = "one camera: the device's people sensor is its count"
            else:
                continue
            log.info("mqtt: removing the Home Assistant entity %s (%s)", topic, why)
            self._clear(layout, topic)
            return
