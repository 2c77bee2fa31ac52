"""The MQTT sink: what edgepose publishes, on a transport that never blocks frames.

The connection, its offline buffer, acknowledgements and reconnects are the transport's
(:class:`~edgepose.mqtt.transport.MqttTransport`); this module decides what goes on it:

- ``<prefix>/<camera>/poses``: every pose document that passes the publishing policy
  (``mqtt.only_with_poses``, ``mqtt.max_rate``), counted (:meth:`MqttTransport.publish`);
- ``count``: the number of people, retained, whenever it changes (:meth:`MqttTransport.set_state`);
- ``available`` (``online``/``offline``, retained, and the will), ``meta`` and Home Assistant
  discovery (retained) first on every connection;
- ``stats`` every ``mqtt.stats_interval`` and once more on shutdown;
- with the analysis stage: every event on ``<prefix>/<camera>/events`` (QoS 1, counted as
  ``events``), and each zone's state, retained, on ``<prefix>/<camera>/zones/<zone>`` whenever it
  changes (and again after every reconnect). With Home Assistant discovery, per zone an occupancy
  ``binary_sensor`` and a count ``sensor``; the retained configs and states of zones no longer
  configured are found on the broker at connect and removed (empty retained messages).
- with the behaviours: who is down, retained, on ``<prefix>/<camera>/fall`` whenever it changes
  (with discovery, a "fall detected" ``binary_sensor``; both removed once falls are turned off), and
  the reps reset command subscribed on ``<prefix>/<camera>/reps/reset`` (empty payload: every
  track; a track id: that one), handed to the stage (:meth:`MqttSink.on_reps_reset`).

A new topic (events, a zone's state) is one call: :meth:`MqttSink.publish_document` for counted
documents, :meth:`MqttTransport.set_state` for retained latest values. The documents themselves
are built in :mod:`edgepose.documents`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgepose.config.sections import Config
from edgepose.documents.events import fall_state, zone_states
from edgepose.documents.poses import SCHEMA as POSES_SCHEMA
from edgepose.documents.poses import encode
from edgepose.documents.stats import STATS_SCHEMA, host_facts, stats_document
from edgepose.logs import counted
from edgepose.mqtt.buffer import Message
from edgepose.mqtt.connect import Will, client_id_for
from edgepose.mqtt.homeassistant import (
    discovery_messages,
    fall_discovery_messages,
    is_stale_fall_config,
    is_stale_zone_config,
    zone_config_filter,
    zone_discovery_messages,
)
from edgepose.mqtt.topics import Topics
from edgepose.mqtt.transport import MqttTransport
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"  # MQTT 5 content type of pose messages; the schema id goes in a user property

__all__ = ["STATS_SCHEMA", "MqttSink", "analysis_settings", "host_facts"]


def analysis_settings(config: Config) -> tuple[bool, list[str], bool, bool]:
    """What the sink publishes for the analysis stage: (stage on, this camera's zone names, falls on, reps on)."""
    a = config.analysis
    camera = config.source.camera
    zones = [z.name for z in a.zones if z.camera in ("", camera)] if a.enabled else []
    return a.enabled, zones, a.enabled and a.behaviours.falls.enabled, a.enabled and a.behaviours.reps.enabled


class MqttSink(Sink):
    """Publishes pose documents to ``<prefix>/<camera>/poses`` and status to ``available``, ``meta``,
    ``stats`` and ``count`` (see the MQTT section of README.md).

    ``clock`` (monotonic seconds) paces the rate limit and stats; ``wall`` stamps stats; ``facts``
    reads the host; ``rng`` draws reconnect jitter. Tests inject them.
    """

    name = "mqtt"

    def __init__(
        self,
        config: Config,
        stats: RunStats,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        facts: Callable[[], dict[str, Any]] = host_facts,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.mqtt = config.mqtt
        self.stats = stats
        self.clock = clock
        self.wall = wall
        self.facts = facts
        self.topics = Topics.from_config(config)
        self.client_id = client_id_for(config)
        will = Will(self.topics.available, "offline", qos=self.mqtt.qos_status, retain=True)
        self.transport = MqttTransport(self.mqtt, self.client_id, will, clock=clock, rng=rng,
                                       shutdown_timeout=config.service.shutdown_timeout)  # fmt: skip
        self._lock = threading.Lock()  # the publishing policy's state (the pipeline thread, and counters())
        self._last_count: int | None = None
        self._last_sent_mono: float | None = None
        self._announcements: list[Message] = []
        self.skipped_policy = 0
        self._analysis_lock = threading.Lock()  # the analysis settings below against a reload (the main thread)
        self.analysis_on, self.zones, self.falls_on, self.reps_on = analysis_settings(config)
        self._meta: dict[str, Any] = {}
        self._reps_reset: Callable[[int | None], bool] | None = None  # the stage's, once the pipeline is built
        self.reps_resets = 0  # reset commands handed to the stage
        self.commands_refused = 0  # command messages not understood (or arriving before the stage runs)

    # -- the Sink interface ------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Every pose message that will never reach the broker, whatever the reason."""
        return self.transport.dropped

    @property
    def published(self) -> int:
        """Pose messages acknowledged (QoS>=1) or written to the socket (QoS 0)."""
        return self.transport.published["poses"]

    def open(self, meta: dict[str, Any]) -> None:
        """Start connecting in the background; returns at once, whether or not the broker is up."""
        self._meta = meta
        self._announcements = self.announcements(self.meta_with_topics(meta))
        self._watch_leftovers()
        log.info(
            "mqtt: connecting to %s:%d as %s (MQTT %s%s), poses to %s",
            self.mqtt.host,
            self.mqtt.port,
            self.client_id,
            self.mqtt.protocol,
            ", TLS" if self.mqtt.tls.enabled else "",
            self.topics.poses,
        )
        self.transport.start(lambda: self._announcements, self._stats_message, self.mqtt.stats_interval)

    def meta_with_topics(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with the ``topics`` this sink publishes under the analysis settings in effect."""
        topics = {"available": self.topics.available, "poses": self.topics.poses, "stats": self.topics.stats,
                  "count": self.topics.count}  # fmt: skip
        if self.analysis_on:
            topics["events"] = self.topics.events
            topics.update({f"zones/{zone}": self.topics.zone(zone) for zone in self.zones})
        if self.falls_on:
            topics["fall"] = self.topics.fall
        if self.reps_on:
            topics["reps/reset"] = self.topics.reps_reset
        return {**meta, "topics": topics}

    def reload(self, config: Config, meta: dict[str, Any]) -> None:
        """A reload changed ``analysis``: announce what is new, clear what is gone, republish ``meta``.

        New zones' (and the fall sensor's) discovery configs are published, removed ones emptied
        (Home Assistant removes the entities), with the retained states of removed zones (and the
        fall state once falls are off). Every changed retained message goes through
        :meth:`MqttTransport.set_state`, so the latest value wins after a reconnect too (a zone
        removed, then added again, is not emptied by a stale clear). The old stage may publish a
        frame or two after this: :meth:`write` only publishes the states of zones configured now.
        """
        with self._analysis_lock:
            was_zones, was_falls = set(self.zones), self.falls_on
            self.config = config
            self.analysis_on, self.zones, self.falls_on, self.reps_on = analysis_settings(config)
            self._meta = meta
            before = {m.topic: m.payload for m in self._announcements}
            self._announcements = self.announcements(self.meta_with_topics(meta))
            after = {m.topic: m for m in self._announcements}
            qos = self.mqtt.qos_status
            for topic, message in after.items():
                if before.get(topic) != message.payload:
                    self.transport.set_state(topic, message.payload, qos)
            for topic in before.keys() - after.keys():  # a removed zone's or the fall sensor's config
                self.transport.set_state(topic, b"", qos)
            for zone in sorted(was_zones - set(self.zones)):
                self.transport.set_state(self.topics.zone(zone), b"", qos)
            if was_falls and not self.falls_on:
                self.transport.set_state(self.topics.fall, b"", qos)
        gone, added = sorted(was_zones - set(self.zones)), sorted(set(self.zones) - was_zones)
        falls = "" if was_falls == self.falls_on else f"; fall detection {'on' if self.falls_on else 'off'}"
        log.info("mqtt: analysis reloaded: zones %s%s%s%s", ", ".join(self.zones) or "none",
                 f"; added {', '.join(added)}" if added else "", f"; removed {', '.join(gone)}" if gone else "",
                 falls)  # fmt: skip

    def announcements(self, meta: dict[str, Any]) -> list[Message]:
        """What every connection starts with: online and meta (retained), then discovery if enabled."""
        qos = self.mqtt.qos_status
        messages = [Message(self.topics.available, b"online", qos, True, kind=""),
                    Message(self.topics.meta, encode(meta).encode(), qos, True, kind="")]  # fmt: skip
        if self.mqtt.homeassistant.enabled:
            for topic, doc in discovery_messages(self.mqtt.homeassistant.discovery_prefix, self.config.device_id,
                                                 self.topics):  # fmt: skip
                messages.append(Message(topic, encode(doc).encode(), qos, True, kind=""))
            for topic, doc in zone_discovery_messages(self.mqtt.homeassistant.discovery_prefix,
                                                      self.config.device_id, self.topics, self.zones):  # fmt: skip
                messages.append(Message(topic, encode(doc).encode(), qos, True, kind=""))
            if self.falls_on:
                for topic, doc in fall_discovery_messages(self.mqtt.homeassistant.discovery_prefix,
                                                          self.config.device_id, self.topics):  # fmt: skip
                    messages.append(Message(topic, encode(doc).encode(), qos, True, kind=""))
        return messages

    def _watch_leftovers(self) -> None:
        """Remove what an earlier run left retained for zones no longer configured: their states (while
        the analysis stage runs) and, with discovery, their Home Assistant entities (also when the
        stage is off: then every zone is gone). An empty retained message deletes either."""
        qos = self.mqtt.qos_status
        state_prefix = self.topics.zone("")

        def state(topic: str, payload: bytes) -> None:
            if not self.analysis_on:  # the zones are this sink's to keep only while the stage runs
                return
            if payload and topic.startswith(state_prefix) and topic[len(state_prefix) :] not in self.zones:
                log.info("mqtt: zone %r is no longer configured: clearing its retained state",
                         topic[len(state_prefix) :])  # fmt: skip
                self.transport.set_state(topic, b"", qos)

        def fall(topic: str, payload: bytes) -> None:
            if payload and not self.falls_on:
                log.info("mqtt: fall detection is off: clearing the retained fall state")
                self.transport.set_state(topic, b"", qos)

        # Watched whatever the settings at start: a reload may turn the stage or the reps on.
        self.transport.watch(self.topics.zone("+"), state)
        self.transport.watch(self.topics.fall, fall)
        self.transport.watch(self.topics.reps_reset, self._reps_command, retained=False)
        ha = self.mqtt.homeassistant
        if not ha.enabled:
            return

        def entity(topic: str, payload: bytes) -> None:
            if is_stale_zone_config(topic, payload, ha.discovery_prefix, self.config.device_id, self.topics,
                                    self.zones):  # fmt: skip
                log.info("mqtt: removing the Home Assistant entity %s (its zone is no longer configured)", topic)
                self.transport.set_state(topic, b"", qos)
            elif is_stale_fall_config(topic, payload, ha.discovery_prefix, self.config.device_id, self.topics,
                                      self.falls_on):  # fmt: skip
                log.info("mqtt: removing the Home Assistant entity %s (fall detection is off)", topic)
                self.transport.set_state(topic, b"", qos)

        self.transport.watch(zone_config_filter(ha.discovery_prefix, self.config.device_id), entity)

    def on_reps_reset(self, reset: Callable[[int | None], bool]) -> None:
        """Where reps reset commands go: ``reset(track)`` (None: every track), called on the MQTT
        client's thread (the stage queues it for its next frame)."""
        self._reps_reset = reset

    def _reps_command(self, topic: str, payload: bytes) -> None:
        """``<prefix>/<camera>/reps/reset``: empty (or whitespace) resets every count, a track id one
        track's. Anything else is counted (``commands_refused``) and logged, never raised. Ignored
        while repetition counting is off (the topic is watched in case a reload turns it on)."""
        if not self.reps_on:
            return
        text = payload.decode("utf-8", "replace").strip()
        track: int | None = None
        why = ""
        if text:
            if text.isascii() and text.isdigit() and len(text) <= 18:
                track = int(text)
            else:
                why = f"the payload {text[:40]!r} is neither empty (every track) nor a track id"
        if not why and self._reps_reset is None:
            why = "the analysis stage is not running yet"
        if not why and self._reps_reset is not None and not self._reps_reset(track):
            why = "repetition counting is off"
        with self._lock:
            if why:
                self.commands_refused += 1
            else:
                self.reps_resets += 1
        if why:
            log.warning("mqtt: %s: command ignored: %s", topic, why)

    def write(self, result: FrameResult, document: dict[str, Any], line: str) -> None:
        """Queue one pose document; never blocks on the network."""
        people = len(result.poses)
        m = self.mqtt
        with self._lock:
            count_changed = m.publish_count and people != self._last_count
            if count_changed:
                self._last_count = people
            skip = m.only_with_poses and people == 0
            if not skip and m.max_rate > 0:
                now = self.clock()
                skip = self._last_sent_mono is not None and now - self._last_sent_mono < 1.0 / m.max_rate
                if not skip:
                    self._last_sent_mono = now
            if skip:
                self.skipped_policy += 1
        if count_changed:
            self.transport.set_state(self.topics.count, str(people).encode(), m.qos_status)
        if not skip:
            message = Message(self.topics.poses, line.encode(), m.qos_poses, kind="poses",
                              expiry=m.poses_expiry, content_type=CONTENT_TYPE, schema=POSES_SCHEMA)  # fmt: skip
            self.transport.publish(message)
        if result.analysis is not None and (result.analysis.zones or result.analysis.falls_changed):
            with self._analysis_lock:  # a frame of the stage before a reload: only the zones configured now
                for zone, doc in zone_states(result, self.config.device_id):
                    if zone in self.zones:
                        self.transport.set_state(self.topics.zone(zone), encode(doc).encode(), m.qos_status)
                if self.falls_on and (doc := fall_state(result, self.config.device_id)) is not None:
                    self.transport.set_state(self.topics.fall, encode(doc).encode(), m.qos_status)

    def write_events(self, result: FrameResult, events: Sequence[dict[str, Any]], lines: Sequence[str]) -> None:
        """Each event on ``<prefix>/<camera>/events``, QoS 1, not retained, counted as ``events``.

        Not subject to ``only_with_poses`` or ``max_rate``: a zone_leave happens on a frame without
        people, and an event dropped for the rate is a state change lost."""
        for line in lines:
            self.transport.publish(Message(self.topics.events, line.encode(), 1, kind="events"))

    def publish_document(self, topic: str, document: dict[str, Any], *, kind: str, qos: int,
                         retain: bool = False) -> bool:  # fmt: skip
        """Publish one document on ``topic``, buffered while offline, resent (QoS>=1) and counted as
        ``kind`` (``published_<kind>`` in :meth:`counters`); never blocks. False if over ``mqtt.max_payload``."""
        return self.transport.publish(Message(topic, encode(document).encode(), qos, retain, kind=kind))

    def close(self) -> None:
        """Send what can be sent within ``service.shutdown_timeout``, the last stats, ``offline``, disconnect.

        Whatever is still unsent at the deadline is counted as dropped and logged.
        """
        if not self.transport.started:
            return
        self.transport.close(lambda: [self._stats_message()])
        log.info("mqtt: closed: %s published, %d dropped, %s", counted(self.published, "pose message"),
                 self.dropped, counted(self.transport.reconnects, "reconnect"))  # fmt: skip

    def counters(self) -> dict[str, int | float]:
        """The sink's figures for the stats topic and /metrics (all numbers)."""
        figures = self.transport.counters()
        tail = {k: figures.pop(k) for k in ("reconnects", "connect_failures")}
        with self._lock:
            commands = {"reps_resets": self.reps_resets, "commands_refused": self.commands_refused}
            if not self.reps_on:
                commands = {}
            return {**figures, "skipped_policy": self.skipped_policy, **commands, **tail}

    def stats_document(self) -> dict[str, Any]:
        """The ``stats`` message: pipeline figures, host facts and this sink's counters."""
        return stats_document(self.config, self.stats, self.clock(), self.wall(), self.facts(), self.counters())

    def _stats_message(self) -> Message:
        return Message(self.topics.stats, encode(self.stats_document()).encode(), self.mqtt.qos_status, False, kind="")
