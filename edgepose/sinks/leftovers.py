"""What an earlier run left retained on the broker that this run does not stand behind, found at
connect and removed (an empty retained message deletes a retained value).

- For a configured camera: the states of zones no longer configured (while the analysis stage
  runs), the fall state (falls off), the camera's own count (one camera now) and, with Home
  Assistant discovery, their entities' configs (zones also when the stage is off: then every zone
  is gone).
- A camera this daemon had and no longer has: everything of it, as a reload removing it would
  clear. This device's retained ``meta`` says which cameras it had (``topics.cameras``); it is
  subscribed before the connection announces this run's ``meta``, so the first one read is the
  last run's. A camera no ``meta`` of this device listed is left alone: the prefix may be shared.
- The counts, zone and fall states this run publishes, as a killed run left them: emptied until
  this run publishes its own (:meth:`RetainedStates.clear_left`), so no subscriber takes the last
  run's values for this run's.

Order matters to Home Assistant: a config is emptied before the state it reads (it would render the
emptied state through the config's template), so the configs' subscription is made before the states'.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from edgepose.mqtt.homeassistant import (
    config_state_topic,
    is_stale_camera_people_config,
    is_stale_fall_config,
    is_stale_fps_config,
    is_stale_zone_config,
    zone_config_filter,
)
from edgepose.mqtt.transport import MqttTransport
from edgepose.sinks.layout import Layout
from edgepose.sinks.retained import RetainedStates

log = logging.getLogger(__name__)

STATE_SUFFIXES = ("count", "fall", "zones/")  # a camera's retained states: what its entities read


class Leftovers:
    """Watches this device's retained ``meta``, states and discovery configs on every connection and
    empties those this run does not stand behind under the layout in effect (``layout()``, read at
    each message: a reload may change it). The handlers run on the transport's network thread."""

    def __init__(self, transport: MqttTransport, layout: Callable[[], Layout], states: RetainedStates) -> None:
        self.transport = transport
        self.layout = layout
        self.states = states
        self._lock = threading.Lock()
        self._had: set[str] = set()  # cameras a meta of this device listed

    def watch(self) -> None:
        """Subscribe (before the transport starts). The states are watched whatever the settings at
        start, for every camera: a reload may turn the stage on or add a camera."""
        layout = self.layout()
        topics = layout.topics
        self.transport.watch(topics.meta, self.meta, first=True)
        ha = layout.config.mqtt.homeassistant
        if ha.enabled:  # subscribed before the states: a stale entity's config is emptied before the state it reads
            self.transport.watch(zone_config_filter(ha.discovery_prefix, layout.config.device_id), self.stale_entity)
        self.transport.watch(topics.every_camera("zones/+"), self.zone_state)
        self.transport.watch(topics.every_camera("fall"), self.fall_state)
        self.transport.watch(topics.every_camera("count"), self.camera_count)
        self.transport.watch(topics.count, self.device_count)

    def _clear(self, layout: Layout, topic: str) -> None:
        self.transport.set_state(topic, b"", layout.config.mqtt.qos_status)

    def _gone(self, layout: Layout, camera: str | None) -> bool:
        """A camera this daemon had (its ``meta`` listed it) that the layout no longer has."""
        if camera is None or camera in layout.cameras:
            return False
        with self._lock:
            return camera in self._had

    def meta(self, topic: str, payload: bytes) -> None:
        """A ``meta`` of this device (the last run's first, then this run's own): its cameras are this
        daemon's. One of another device (a shared prefix) or not readable says nothing."""
        layout = self.layout()
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        if not isinstance(doc, dict) or doc.get("device") != layout.config.device_id:
            return
        topics = doc.get("topics")
        cameras = topics.get("cameras") if isinstance(topics, dict) else None
        if not isinstance(cameras, dict):
            return
        with self._lock:
            new = [str(c) for c in cameras if str(c) not in self._had]
            self._had.update(new)
        gone = [c for c in new if c not in layout.cameras]
        if gone:
            log.info(
                "mqtt: camera%s %s no longer configured (this device's meta listed %s): clearing %s retained "
                "states and Home Assistant entities",
                "s" if len(gone) > 1 else "",
                ", ".join(gone),
                "them" if len(gone) > 1 else "it",
                "their" if len(gone) > 1 else "its",
            )

    def zone_state(self, topic: str, payload: bytes) -> None:
        """A zone's state: emptied when its camera is gone, or configured without that zone (stage on);
        a configured zone's as the last run left it, until this run publishes it."""
        layout = self.layout()
        camera = layout.topics.camera_of(topic, "zones/")
        if not payload or camera is None:
            return
        if self._gone(layout, camera):
            self._clear(layout, topic)
            return
        output = layout.cameras.get(camera)
        if output is None or not layout.analysis_on:  # zones are ours only while the stage runs
            return
        zone = topic[len(output.topics.zone("")) :]
        if zone not in output.zones:
            log.info("mqtt: zone %r is no longer configured: clearing its retained state", zone)
            self._clear(layout, topic)
        else:
            self.states.clear_left(topic)

    def fall_state(self, topic: str, payload: bytes) -> None:
        """A camera's fall state: emptied when the camera is gone or falls are off; the last run's
        until this run publishes its own."""
        layout = self.layout()
        camera = layout.topics.camera_of(topic, "fall")
        if not payload or camera is None:
            return
        if self._gone(layout, camera):
            self._clear(layout, topic)
        elif camera in layout.cameras and not layout.falls_on:
            log.info("mqtt: fall detection is off: clearing the retained fall state")
            self._clear(layout, topic)
        elif camera in layout.cameras:
            self.states.clear_left(topic)

    def camera_count(self, topic: str, payload: bytes) -> None:
        """A camera's own count: emptied when the camera is gone, or with one camera (``<prefix>/count``
        is the count); the last run's until this run publishes its own."""
        layout = self.layout()
        camera = layout.topics.camera_of(topic, "count")
        if not payload or camera is None:
            return
        if self._gone(layout, camera):
            self._clear(layout, topic)
        elif camera in layout.cameras and not layout.several:
            log.info(
                "mqtt: one camera now: clearing its retained count %s (%s is the count)", topic, layout.topics.count
            )
            self._clear(layout, topic)
        elif camera in layout.cameras and layout.config.mqtt.publish_count:
            self.states.clear_left(topic)

    def device_count(self, topic: str, payload: bytes) -> None:
        """``<prefix>/count`` as the last run left it: emptied until this run publishes its own."""
        if payload and topic == self.layout().topics.count and self.layout().config.mqtt.publish_count:
            self.states.clear_left(topic)

    def stale_entity(self, topic: str, payload: bytes) -> None:
        """A retained discovery config of this device that the settings no longer make: emptied (Home
        Assistant removes the entity). Before the states they read."""
        layout = self.layout()
        mqtt = layout.config.mqtt
        prefix, device = mqtt.homeassistant.discovery_prefix, layout.config.device_id
        state = config_state_topic(payload) if payload else None
        if state is not None and any(self._gone(layout, layout.topics.camera_of(state, s)) for s in STATE_SUFFIXES):
            log.info("mqtt: removing the Home Assistant entity %s (its camera is no longer configured)", topic)
            self._clear(layout, topic)
            return
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
