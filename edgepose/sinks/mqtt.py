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
  track; a track id: that one), handed to the stage through :class:`~edgepose.analysis.commands.Commands`.

Several cameras (``cameras:``) share the one connection, will, ``available``, ``meta`` and ``stats``;
each frame's documents go to its own camera's topics (``result.camera``), with that camera's zones,
its own publishing policy (``only_with_poses``, ``max_rate``) and count: with several cameras
``<prefix>/<camera>/count`` per camera and ``<prefix>/count`` the device's total (the sum of each
camera's latest count), with one camera ``<prefix>/count`` alone, as before. A frame from a camera
that is not configured (one a reload just removed) still has its poses and events published on its
own camera's topics, logged once; it sets no count, zone or fall state. docs/mqtt.md has the shapes.

A new topic (events, a zone's state) is one call: :meth:`MqttSink.publish_document` for counted
documents, :meth:`MqttTransport.set_state` for retained latest values. The documents themselves
are built in :mod:`edgepose.documents`.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgepose.analysis.commands import Commands
from edgepose.config.cameras import camera_configs
from edgepose.config.sections import Config
from edgepose.documents.output import CameraQuiet, FrameOutput, Output
from edgepose.documents.poses import SCHEMA as POSES_SCHEMA
from edgepose.documents.poses import encode
from edgepose.documents.stats import STATS_SCHEMA, host_facts, stats_document
from edgepose.errors import ConfigError
from edgepose.logs import counted
from edgepose.mqtt.buffer import Message
from edgepose.mqtt.connect import Will, client_id_for
from edgepose.mqtt.homeassistant import (
    camera_discovery_messages,
    configuration_url,
    discovery_messages,
    fall_discovery_messages,
    is_stale_camera_people_config,
    is_stale_fall_config,
    is_stale_fps_config,
    is_stale_zone_config,
    zone_config_filter,
    zone_discovery_messages,
)
from edgepose.mqtt.settle import Settle
from edgepose.mqtt.topics import Topics, check_topic
from edgepose.mqtt.transport import MqttTransport
from edgepose.sinks.base import Sink
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"  # MQTT 5 content type of pose messages; the schema id goes in a user property

__all__ = ["STATS_SCHEMA", "CameraOutput", "MqttSink", "analysis_settings", "camera_outputs", "host_facts"]


def analysis_settings(config: Config) -> tuple[bool, list[str], bool, bool]:
    """What the sink publishes for the analysis stage: (stage on, this camera's zone names, falls on, reps on)."""
    a = config.analysis
    camera = config.source.camera
    zones = [z.name for z in a.zones if z.camera in ("", camera)] if a.enabled else []
    return a.enabled, zones, a.enabled and a.behaviours.falls.enabled, a.enabled and a.behaviours.reps.enabled


@dataclass
class CameraOutput:
    """One camera's topics and zones in the sink, and its publishing state (per camera: one camera's
    frames never rate-limit or recount another's). ``configured`` is False for a camera the config
    does not name (its poses and events are still published; no count, zone or fall state)."""

    name: str
    topics: Topics
    zones: tuple[str, ...] = ()
    configured: bool = True
    routable: bool = True  # False when its topics are not valid topics (never for a configured camera)
    last_count: int | None = None  # people in its latest frame (None: no frame yet)
    last_sent_mono: float | None = None  # when its latest pose message was queued (mqtt.max_rate)


def camera_outputs(config: Config, topics: Topics,
                   kept: Mapping[str, CameraOutput] | None = None) -> dict[str, CameraOutput]:  # fmt: skip
    """Every configured camera's output, in the order of ``cameras``; a camera in ``kept`` (a reload)
    keeps its publishing state."""
    out: dict[str, CameraOutput] = {}
    for camera in camera_configs(config):
        name = camera.source.camera
        old = (kept or {}).get(name)
        out[name] = CameraOutput(name, topics.for_camera(name), tuple(analysis_settings(camera)[1]),
                                 last_count=old.last_count if old else None,
                                 last_sent_mono=old.last_sent_mono if old else None)  # fmt: skip
    return out


class MqttSink(Sink):
    """Publishes pose documents to ``<prefix>/<camera>/poses`` and status to ``available``, ``meta``,
    ``stats`` and ``count`` (docs/mqtt.md).

    ``commands``: where the reps reset commands it receives go (each camera's analysis stage
    registers there). ``clock`` (monotonic seconds) paces the rate limit and stats; ``wall`` stamps
    stats; ``facts`` reads the host; ``rng`` draws reconnect jitter. Tests inject them.
    """

    name = "mqtt"

    def __init__(
        self,
        config: Config,
        stats: RunStats,
        *,
        commands: Commands | None = None,
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
        self.topics = Topics.from_config(config)  # the first camera's; available, meta, stats, count are the device's
        self.client_id = client_id_for(config)
        will = Will(self.topics.available, "offline", qos=self.mqtt.qos_status, retain=True)
        self.transport = MqttTransport(self.mqtt, self.client_id, will, clock=clock, rng=rng,
                                       shutdown_timeout=config.service.shutdown_timeout)  # fmt: skip
        # The publishing policy's and the counts' state (the pipeline thread, counters(), a reload).
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraOutput] = camera_outputs(config, self.topics)
        self._strays: dict[str, CameraOutput] = {}  # frames' cameras not configured, each logged once
        self._device_count: int | None = None  # the latest value of <prefix>/count
        self._announcements: list[Message] = []
        # Counts and zone states Home Assistant records change at most once per settle (mqtt.homeassistant).
        ha = self.mqtt.homeassistant
        self._settle = Settle(ha.settle if ha.enabled else 0.0)
        self.skipped_policy = 0
        self.unknown_camera = 0  # frames from a camera not configured (published on its own topics)
        self._analysis_lock = threading.Lock()  # the analysis settings below against a reload (the main thread)
        self.analysis_on, _, self.falls_on, self.reps_on = analysis_settings(config)
        self._meta: dict[str, Any] = {}
        self.commands = commands or Commands()
        self.reps_resets = 0  # reset commands handed to the stage
        self.commands_refused = 0  # command messages not understood (or arriving before the stage runs)

    # -- the cameras -------------------------------------------------------------------------------

    @property
    def cameras(self) -> tuple[str, ...]:
        """The configured cameras, in order (the first one's topics are ``meta``'s flat keys)."""
        return tuple(self._cameras)

    @property
    def several(self) -> bool:
        """More than one camera: per-camera counts and people sensors, ``count`` the device's total."""
        return len(self._cameras) > 1

    @property
    def zones(self) -> list[str]:
        """The first camera's zones (the one camera's)."""
        first = next(iter(self._cameras.values()))
        return list(first.zones)

    def camera_zones(self, camera: str) -> list[str]:
        """Camera ``camera``'s zones whose states this sink publishes ([] for a camera not configured)."""
        output = self._cameras.get(camera)
        return list(output.zones) if output else []

    def _output(self, camera: str) -> CameraOutput:
        """Where a frame of ``camera`` goes: its configured output, or a stray one (logged once). Under ``_lock``."""
        output = self._cameras.get(camera) or self._strays.get(camera)
        if output is not None:
            return output
        topics = self.topics.for_camera(camera)
        try:
            check_topic(topics.poses, "mqtt topic 'poses'")
            routable = True
        except ConfigError:
            routable = False
        output = self._strays[camera] = CameraOutput(camera, topics, configured=False, routable=routable)
        if routable:
            log.warning("mqtt: frames of camera %r, which is not configured (cameras: %s): its poses and events go "
                        "to %s and %s, without a count, zone or fall state (logged once)", camera,
                        ", ".join(self._cameras), topics.poses, topics.events)  # fmt: skip
        else:
            log.warning("mqtt: frames of camera %r, which is not configured and is no topic level: not published "
                        "(logged once)", camera)  # fmt: skip
        return output

    def _counted(self, output: CameraOutput, people: int) -> list[tuple[str, int]]:
        """The count states a frame of ``output`` with ``people`` changes (under ``_lock``)."""
        if people == output.last_count:
            return []
        output.last_count = people
        changed = [(output.topics.camera_count, people)] if self.several else []
        return changed + self._device_total_changed()

    def _device_total_changed(self) -> list[tuple[str, int]]:
        """``<prefix>/count`` when it differs from its latest value: the sum of each camera's latest count."""
        if all(c.last_count is None for c in self._cameras.values()):
            return []
        total = sum(c.last_count or 0 for c in self._cameras.values())
        if total == self._device_count:
            return []
        self._device_count = total
        return [(self.topics.count, total)]

    # -- the Sink interface ------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Every pose message that will never reach the broker, whatever the reason."""
        return self.transport.dropped

    @property
    def published(self) -> int:
        """Pose messages acknowledged (QoS>=1) or written to the socket (QoS 0)."""
        return self.transport.published["poses"]

    def trouble(self) -> str | None:
        return self.transport.trouble

    def _quiet(self, camera: str) -> None:
        """Its count (``<prefix>/<camera>/count``) is 0 and leaves the device's total, until its next frame."""
        m = self.mqtt
        with self._lock:
            output = self._cameras.get(camera)
            if output is None or not m.publish_count:
                return
            for topic, value in self._counted(output, 0):
                self.transport.set_state(topic, str(value).encode(), m.qos_status)
                self._settle.sent(topic, str(value).encode(), self.clock())  # at once: no frame may follow

    @property
    def listening(self) -> bool:
        """Connected with its subscriptions granted: a command published from now on arrives."""
        return self.transport.listening

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
            self.topics.poses if not self.several else self.topics.every_camera("poses"),
        )
        self.transport.start(lambda: self._announcements, self._stats_message, self.mqtt.stats_interval)

    def meta_with_topics(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with the ``topics`` this sink publishes under the settings in effect: the device's
        and the first camera's as flat keys (as with one camera), and ``cameras``: every camera's."""
        topics: dict[str, Any] = {"available": self.topics.available, "poses": self.topics.poses,
                                  "stats": self.topics.stats, "count": self.topics.count}  # fmt: skip
        topics.update({k: v for k, v in self._camera_topics(next(iter(self._cameras.values()))).items()
                       if k != "count"})  # fmt: skip
        topics["cameras"] = {name: self._camera_topics(output) for name, output in self._cameras.items()}
        return {**meta, "topics": topics}

    def _camera_topics(self, output: CameraOutput) -> dict[str, str]:
        """One camera's topics under the settings in effect (``count`` with several cameras only)."""
        t = output.topics
        topics = {"poses": t.poses}
        if self.several and self.mqtt.publish_count:
            topics["count"] = t.camera_count
        if self.analysis_on:
            topics["events"] = t.events
            topics.update({f"zones/{zone}": t.zone(zone) for zone in output.zones})
        if self.falls_on:
            topics["fall"] = t.fall
        if self.reps_on:
            topics["reps/reset"] = t.reps_reset
        return topics

    def _reload(self, config: Config, meta: dict[str, Any]) -> None:
        """A reload changed ``analysis`` or ``cameras``: announce what is new, clear what is gone, republish ``meta``.

        New zones', cameras' (and the fall sensors') discovery configs are published, removed ones
        emptied (Home Assistant removes the entities), with the retained states of removed zones (and
        the fall state once falls are off). A removed camera loses all of them: its zones, its fall
        state and, with several cameras, its count (``<prefix>/count`` is then the others' total).
        Every changed retained message goes through :meth:`MqttTransport.set_state`, so the latest
        value wins after a reconnect too (a zone removed, then added again, is not emptied by a stale
        clear). The old stage may publish a frame or two after this: :meth:`write` only publishes the
        states of zones configured now, and a removed camera's frames as a camera not configured.
        """
        qos = self.mqtt.qos_status
        with self._analysis_lock:
            was, was_falls, was_several = self._cameras, self.falls_on, self.several
            self.config = config
            self.analysis_on, _, self.falls_on, self.reps_on = analysis_settings(config)
            with self._lock:
                self.topics = self.topics.for_camera(Topics.from_config(config).camera)
                self._cameras = camera_outputs(config, self.topics, was)
                self._strays = {k: v for k, v in self._strays.items() if k not in self._cameras}
                self._reload_counts(was, was_several)
            self._meta = meta
            before = {m.topic: m.payload for m in self._announcements}
            self._announcements = self.announcements(self.meta_with_topics(meta))
            after = {m.topic: m for m in self._announcements}
            for topic, message in after.items():
                if before.get(topic) != message.payload:
                    self.transport.set_state(topic, message.payload, qos)
            for topic in before.keys() - after.keys():  # a removed zone's, camera's or fall sensor's config
                self.transport.set_state(topic, b"", qos)
            for name, old in was.items():
                now = self._cameras.get(name)
                for zone in sorted(set(old.zones) - set(now.zones if now else ())):
                    self.transport.set_state(old.topics.zone(zone), b"", qos)
                if was_falls and (now is None or not self.falls_on):
                    self.transport.set_state(old.topics.fall, b"", qos)
            # A held value of a removed zone never follows its clear; counts were republished above.
            self._settle.keep_only({o.topics.zone(z) for o in self._cameras.values() for z in o.zones})
        self._log_reload(was, was_falls)

    def _reload_counts(self, was: Mapping[str, CameraOutput], was_several: bool) -> None:
        """The count states after a reload (under both locks): a removed camera's count emptied (and
        every camera's once one camera is left), each kept camera's published once several run, the
        device's total again."""
        if not self.mqtt.publish_count:
            return
        qos = self.mqtt.qos_status
        for name, old in was.items():
            if was_several and (name not in self._cameras or not self.several):
                self.transport.set_state(old.topics.camera_count, b"", qos)
        if self.several and not was_several:
            for output in self._cameras.values():
                if output.last_count is not None:
                    self.transport.set_state(output.topics.camera_count, str(output.last_count).encode(), qos)
        for topic, value in self._device_total_changed():
            self.transport.set_state(topic, str(value).encode(), qos)

    def _log_reload(self, was: Mapping[str, CameraOutput], was_falls: bool) -> None:
        several = self.several or len(was) > 1

        def names(cameras: Mapping[str, CameraOutput]) -> list[str]:
            return [f"{c.name}/{z}" if several else z for c in cameras.values() for z in c.zones]

        old, new = names(was), names(self._cameras)
        added, gone = [z for z in new if z not in old], [z for z in old if z not in new]
        cams_added = [c for c in self._cameras if c not in was]
        cams_gone = [c for c in was if c not in self._cameras]
        falls = "" if was_falls == self.falls_on else f"; fall detection {'on' if self.falls_on else 'off'}"
        cams = f"; cameras added {', '.join(cams_added)}" if cams_added else ""
        cams += f"; cameras removed {', '.join(cams_gone)}" if cams_gone else ""
        log.info("mqtt: analysis reloaded: zones %s%s%s%s%s", ", ".join(new) or "none",
                 f"; added {', '.join(added)}" if added else "", f"; removed {', '.join(gone)}" if gone else "",
                 falls, cams)  # fmt: skip

    def announcements(self, meta: dict[str, Any]) -> list[Message]:
        """What every connection starts with: online and meta (retained), then discovery if enabled:
        the device's sensors, then per camera its zones' entities, its people sensor (several
        cameras) and its fall sensor (falls on)."""
        qos = self.mqtt.qos_status
        messages = [Message(self.topics.available, b"online", qos, True, kind=""),
                    Message(self.topics.meta, encode(meta).encode(), qos, True, kind="")]  # fmt: skip
        if not self.mqtt.homeassistant.enabled:
            return messages
        prefix, device = self.mqtt.homeassistant.discovery_prefix, self.config.device_id
        s = self.config.service
        url = configuration_url(
            (s.preview.enabled, s.preview.host, s.preview.port),
            (s.health.enabled, s.health.host, s.health.port),
            socket.gethostname(),
        )
        entities = discovery_messages(prefix, device, self.topics, stats=self.mqtt.stats_interval > 0, url=url)
        for output in self._cameras.values():
            entities += zone_discovery_messages(prefix, device, output.topics, output.zones, url=url)
            if self.several and self.mqtt.publish_count:
                entities += camera_discovery_messages(prefix, device, output.topics, url=url)
            if self.falls_on:
                entities += fall_discovery_messages(prefix, device, output.topics, url=url)
        messages += [Message(topic, encode(doc).encode(), qos, True, kind="") for topic, doc in entities]
        return messages

    def _watch_leftovers(self) -> None:
        """Remove what an earlier run left retained for a configured camera that it no longer has: the
        states of zones no longer configured (while the analysis stage runs), the fall state (falls
        off), the camera's own count (one camera now) and, with discovery, their Home Assistant
        entities (zones also when the stage is off: then every zone is gone). An empty retained
        message deletes either. Cameras not configured are left alone: the prefix may be shared."""
        qos = self.mqtt.qos_status

        def state(topic: str, payload: bytes) -> None:
            output = self._cameras.get(self.topics.camera_of(topic, "zones/") or "")
            if output is None or not payload or not self.analysis_on:  # zones are ours only while the stage runs
                return
            zone = topic[len(output.topics.zone("")) :]
            if zone not in output.zones:
                log.info("mqtt: zone %r is no longer configured: clearing its retained state", zone)
                self.transport.set_state(topic, b"", qos)

        def fall(topic: str, payload: bytes) -> None:
            if payload and not self.falls_on and self.topics.camera_of(topic, "fall") in self._cameras:
                log.info("mqtt: fall detection is off: clearing the retained fall state")
                self.transport.set_state(topic, b"", qos)

        def count(topic: str, payload: bytes) -> None:
            if payload and not self.several and self.topics.camera_of(topic, "count") in self._cameras:
                log.info("mqtt: one camera now: clearing its retained count %s (%s is the count)", topic,
                         self.topics.count)  # fmt: skip
                self.transport.set_state(topic, b"", qos)

        ha = self.mqtt.homeassistant
        if ha.enabled:  # subscribed first: a stale entity's config is emptied before the state it reads
            self.transport.watch(zone_config_filter(ha.discovery_prefix, self.config.device_id), self._stale_entity)
        # Watched whatever the settings at start, for every camera: a reload may turn the stage or the
        # reps on, or add a camera.
        self.transport.watch(self.topics.every_camera("zones/+"), state)
        self.transport.watch(self.topics.every_camera("fall"), fall)
        self.transport.watch(self.topics.every_camera("count"), count)
        reset = self.topics.every_camera("reps/reset")
        self.transport.watch(reset, self._reps_command, retained=False, on_retained=self._retained_reps_command)

    def _stale_entity(self, topic: str, payload: bytes) -> None:
        """A retained discovery config of this device that the settings no longer make: emptied (Home
        Assistant removes the entity). Before the states they read (Home Assistant would render an
        emptied state through the config's template)."""
        ha, qos = self.mqtt.homeassistant, self.mqtt.qos_status
        if is_stale_fps_config(
            topic, payload, ha.discovery_prefix, self.config.device_id, self.topics, self.mqtt.stats_interval > 0
        ):
            log.info("mqtt: removing the Home Assistant entity %s (stats are off)", topic)
            self.transport.set_state(topic, b"", qos)
            return
        for output in list(self._cameras.values()):
            if is_stale_zone_config(
                topic, payload, ha.discovery_prefix, self.config.device_id, output.topics, output.zones
            ):
                why = "its zone is no longer configured"
            elif is_stale_fall_config(
                topic, payload, ha.discovery_prefix, self.config.device_id, output.topics, self.falls_on
            ):
                why = "fall detection is off"
            elif is_stale_camera_people_config(
                topic, payload, ha.discovery_prefix, self.config.device_id, output.topics, self.several
            ):
                why = "one camera: the device's people sensor is its count"
            else:
                continue
            log.info("mqtt: removing the Home Assistant entity %s (%s)", topic, why)
            self.transport.set_state(topic, b"", qos)
            return

    def _reps_command(self, topic: str, payload: bytes) -> None:
        """``<prefix>/<camera>/reps/reset``: empty (or whitespace) resets every count of that camera, a
        track id one track's. Anything else is counted (``commands_refused``) and logged, never raised.
        Ignored while repetition counting is off (the topic is watched in case a reload turns it on),
        and for a camera not configured (another daemon's, under a shared prefix)."""
        camera = self.topics.camera_of(topic, "reps/reset")
        if not self.reps_on or camera not in self._cameras:
            return
        text = payload.decode("utf-8", "replace").strip()
        track: int | None = None
        why = ""
        if text:
            if text.isascii() and text.isdigit() and len(text) <= 18:
                track = int(text)
            else:
                why = f"the payload {text[:40]!r} is neither empty (every track) nor a track id"
        if not why:
            done = self.commands.reset_reps(camera, track)
            if done is None:
                why = "the analysis stage is not running yet"
            elif not done:
                why = "repetition counting is off"
        with self._lock:
            if why:
                self.commands_refused += 1
            else:
                self.reps_resets += 1
        if why:
            log.warning("mqtt: %s: command ignored: %s", topic, why)

    def _retained_reps_command(self, topic: str, payload: bytes) -> None:
        """A reset published retained: ignored, counted (``commands_refused``) and logged, since it would
        reset the counts at every connect. Silent where :meth:`_reps_command` would be (reps off, a
        camera not configured)."""
        camera = self.topics.camera_of(topic, "reps/reset")
        if not self.reps_on or camera not in self._cameras:
            return
        with self._lock:
            self.commands_refused += 1
        why = "it was published retained, so it would reset the counts at every connect"
        log.warning("mqtt: %s: command ignored: %s (clear it: mosquitto_pub -r -n -t %s)", topic, why, topic)

    def write(self, output: Output) -> None:
        """A frame's documents on its camera's topics, or a change of state; never blocks on the network."""
        if isinstance(output, FrameOutput):
            self._frame(output)
            self._events(output)
        elif isinstance(output, CameraQuiet):
            self._quiet(output.camera)
        else:
            self._reload(output.config, output.meta)

    def _frame(self, output: FrameOutput) -> None:
        """Queue one pose document on its camera's topic, then the count and states it changed."""
        result, line = output.result, output.line
        people = len(result.poses)
        m = self.mqtt
        with self._analysis_lock:  # what the hold kept, now due (a reload drops a removed zone's first)
            for topic, payload in self._settle.due(self.clock()):
                self.transport.set_state(topic, payload, m.qos_status)
        with self._lock:
            camera = self._output(result.camera)
            if not camera.configured:
                self.unknown_camera += 1
            if m.publish_count and camera.configured:
                for topic, value in self._counted(camera, people):
                    self._held_state(topic, str(value).encode())
            skip = m.only_with_poses and people == 0
            if not skip and m.max_rate > 0:
                now = self.clock()
                skip = camera.last_sent_mono is not None and now - camera.last_sent_mono < 1.0 / m.max_rate
                if not skip:
                    camera.last_sent_mono = now
            if skip:
                self.skipped_policy += 1
        if not skip and camera.routable:
            message = Message(camera.topics.poses, line.encode(), m.qos_poses, kind="poses",
                              expiry=m.poses_expiry, content_type=CONTENT_TYPE, schema=POSES_SCHEMA)  # fmt: skip
            self.transport.publish(message)
        if output.zones or output.fall is not None:
            with self._analysis_lock:  # a frame of the stage before a reload: only the zones configured now
                current = self._cameras.get(result.camera)
                if current is None:
                    return
                for zone, doc in output.zones:
                    if zone in current.zones:
                        self._held_state(current.topics.zone(zone), encode(doc).encode())
                if self.falls_on and output.fall is not None:
                    self.transport.set_state(current.topics.fall, encode(output.fall).encode(), m.qos_status)

    def _held_state(self, topic: str, payload: bytes) -> None:
        """A count or zone state: published now, or held until its settle time is over (:class:`Settle`)."""
        if self._settle.offer(topic, payload, self.clock()):
            self.transport.set_state(topic, payload, self.mqtt.qos_status)

    def _events(self, output: FrameOutput) -> None:
        """Each event on its camera's ``<prefix>/<camera>/events``, QoS 1, not retained, counted as ``events``.

        Not subject to ``only_with_poses`` or ``max_rate``: a zone_leave happens on a frame without
        people, and an event dropped for the rate is a state change lost."""
        if not output.event_lines:
            return
        with self._lock:
            camera = self._output(output.camera)
        if not camera.routable:
            return
        for line in output.event_lines:
            self.transport.publish(Message(camera.topics.events, line.encode(), 1, kind="events"))

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
            unknown = {"unknown_camera": self.unknown_camera} if self.unknown_camera else {}
            return {**figures, "skipped_policy": self.skipped_policy, **commands, **unknown, **tail}

    def stats_document(self) -> dict[str, Any]:
        """The ``stats`` message: pipeline figures (and each camera's), host facts and this sink's counters."""
        return stats_document(self.config, self.stats, self.clock(), self.wall(), self.facts(), self.counters())

    def _stats_message(self) -> Message:
        return Message(self.topics.stats, encode(self.stats_document()).encode(), self.mqtt.qos_status, False, kind="")
