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
  track; a track id: that one), handed to the stage through :class:`~edgepose.analysis.commands.Commands`;
- at connect, what an earlier run left retained that this run does not stand behind is emptied
  (:mod:`edgepose.sinks.leftovers`): stale zones, entities and states, every retained topic of a
  camera this device's last ``meta`` listed and the config no longer names, and the counts, zone
  and fall states a killed run left, until this run publishes its own.

Several cameras (``cameras:``) share the one connection, will, ``available``, ``meta`` and ``stats``;
each frame's documents go to its own camera's topics (``result.camera``), with that camera's zones,
its own publishing policy (``only_with_poses``, ``max_rate``) and count: with several cameras
``<prefix>/<camera>/count`` per camera and ``<prefix>/count`` the device's total (the sum of each
camera's latest count), with one camera ``<prefix>/count`` alone, as before. A frame from a camera
that is not configured (one a reload just removed) still has its poses and events published on its
own camera's topics, logged once; it sets no count, zone or fall state. docs/mqtt.md has the shapes.

The sink composes small parts, each in its module: the cameras and settings in effect
(:mod:`edgepose.sinks.layout`), the publishing policy (:mod:`edgepose.sinks.publishing`), the retained
states (:mod:`edgepose.sinks.retained`), the announcements (:mod:`edgepose.sinks.announcements`), what
an earlier run left on the broker (:mod:`edgepose.sinks.leftovers`) and the reps reset command
(:mod:`edgepose.sinks.reps_commands`). A new topic (events, a zone's state) is one call:
:meth:`MqttSink.publish_document` for counted documents, :meth:`MqttTransport.set_state` for retained
latest values. The documents themselves are built in :mod:`edgepose.documents`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from edgepose.analysis.commands import Commands
from edgepose.config.sections import Config
from edgepose.documents.output import CameraQuiet, FrameOutput, Output
from edgepose.documents.poses import SCHEMA as POSES_SCHEMA
from edgepose.documents.poses import encode
from edgepose.documents.stats import STATS_SCHEMA, host_facts, stats_document
from edgepose.logs import counted
from edgepose.mqtt.buffer import Message
from edgepose.mqtt.connect import Will, client_id_for
from edgepose.mqtt.topics import Topics
from edgepose.mqtt.transport import MqttTransport
from edgepose.sinks.announcements import announcements, changes
from edgepose.sinks.base import Sink
from edgepose.sinks.layout import CameraOutput, Layout, analysis_settings, camera_outputs
from edgepose.sinks.leftovers import Leftovers
from edgepose.sinks.publishing import PublishingPolicy
from edgepose.sinks.reps_commands import RepsCommands
from edgepose.sinks.retained import RetainedStates
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"  # MQTT 5 content type of pose messages; the schema id goes in a user property

__all__ = ["STATS_SCHEMA", "CameraOutput", "MqttSink", "analysis_settings", "camera_outputs", "host_facts"]


class MqttSink(Sink):
    """Publishes pose documents to ``<prefix>/<camera>/poses`` and status to ``available``, ``meta``,
    ``stats`` and ``count`` (docs/mqtt.md).

    ``commands``: where the reps reset commands it receives go (each camera's analysis stage
    registers there). ``clock`` (monotonic seconds) paces the rate limit, the settle hold and stats;
    ``wall`` stamps stats; ``facts`` reads the host; ``rng`` draws reconnect jitter. Tests inject them.
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
        self.mqtt = config.mqtt
        self.stats = stats
        self.clock = clock
        self.wall = wall
        self.facts = facts
        self.layout = Layout.of(config)  # swapped whole by a reload, under _reload_lock
        self.client_id = client_id_for(config)
        will = Will(self.layout.topics.available, "offline", qos=self.mqtt.qos_status, retain=True)
        self.transport = MqttTransport(
            self.mqtt, self.client_id, will, clock=clock, rng=rng, shutdown_timeout=config.service.shutdown_timeout
        )
        self.policy = PublishingPolicy(self.mqtt, clock)
        self.states = RetainedStates(self.transport, self.mqtt, clock)
        self.leftovers = Leftovers(self.transport, lambda: self.layout, self.states)
        self.commands = commands or Commands()
        self.reps = RepsCommands(self.commands, lambda: self.layout)
        # A reload against the frames' zone and fall states: none of a removed zone after its clear.
        self._reload_lock = threading.Lock()
        self._meta: dict[str, Any] = {}
        self._announcements: list[Message] = []

    # -- the settings in effect --------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.layout.config

    @property
    def topics(self) -> Topics:
        """The first camera's topics; ``available``, ``meta``, ``stats`` and ``count`` are the device's."""
        return self.layout.topics

    @property
    def cameras(self) -> tuple[str, ...]:
        """The configured cameras, in order (the first one's topics are ``meta``'s flat keys)."""
        return tuple(self.layout.cameras)

    @property
    def several(self) -> bool:
        return self.layout.several

    @property
    def zones(self) -> list[str]:
        """The first camera's zones (the one camera's)."""
        return list(self.layout.first.zones)

    def camera_zones(self, camera: str) -> list[str]:
        """Camera ``camera``'s zones whose states this sink publishes ([] for a camera not configured)."""
        output = self.layout.cameras.get(camera)
        return list(output.zones) if output else []

    @property
    def analysis_on(self) -> bool:
        return self.layout.analysis_on

    @property
    def falls_on(self) -> bool:
        return self.layout.falls_on

    @property
    def reps_on(self) -> bool:
        return self.layout.reps_on

    def meta_with_topics(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with the ``topics`` this sink publishes under the settings in effect."""
        return self.layout.meta_with_topics(meta)

    def announcements(self, meta: dict[str, Any]) -> list[Message]:
        """What every connection starts with (:func:`~edgepose.sinks.announcements.announcements`)."""
        return announcements(self.layout, meta)

    # -- figures -----------------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Every pose message that will never reach the broker, whatever the reason."""
        return self.transport.dropped

    @property
    def published(self) -> int:
        """Pose messages acknowledged (QoS>=1) or written to the socket (QoS 0)."""
        return self.transport.published["poses"]

    @property
    def skipped_policy(self) -> int:
        return self.policy.skipped_policy

    @property
    def unknown_camera(self) -> int:
        return self.policy.unknown_camera

    @property
    def reps_resets(self) -> int:
        return self.reps.reps_resets

    @property
    def commands_refused(self) -> int:
        return self.reps.commands_refused

    def trouble(self) -> str | None:
        return self.transport.trouble

    @property
    def listening(self) -> bool:
        """Connected with its subscriptions granted: a command published from now on arrives."""
        return self.transport.listening

    def counters(self) -> dict[str, int | float]:
        """The sink's figures for the stats topic and /metrics (all numbers)."""
        figures = self.transport.counters()
        tail = {k: figures.pop(k) for k in ("reconnects", "connect_failures")}
        policy = self.policy.counters()
        skipped = {"skipped_policy": policy.pop("skipped_policy")}
        return {**figures, **skipped, **self.reps.counters(), **policy, **tail}

    def stats_document(self) -> dict[str, Any]:
        """The ``stats`` message: pipeline figures (and each camera's), host facts and this sink's counters."""
        return stats_document(self.config, self.stats, self.clock(), self.wall(), self.facts(), self.counters())

    def _stats_message(self) -> Message:
        return Message(self.topics.stats, encode(self.stats_document()).encode(), self.mqtt.qos_status, False, kind="")

    # -- the Sink interface ------------------------------------------------------------------------

    def open(self, meta: dict[str, Any]) -> None:
        """Start connecting in the background; returns at once, whether or not the broker is up."""
        self._meta = meta
        self._announcements = announcements(self.layout, meta)
        self.leftovers.watch()
        reset = self.topics.every_camera("reps/reset")
        self.transport.watch(reset, self.reps.on_message, retained=False, on_retained=self.reps.on_retained)
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

    def write(self, output: Output) -> None:
        """A frame's documents on its camera's topics, or a change of state; never blocks on the network."""
        if isinstance(output, FrameOutput):
            self._frame(output)
            self._events(output)
        elif isinstance(output, CameraQuiet):
            self.states.quiet(self.layout, output.camera)
        else:
            self._reload(output.config, output.meta)

    def _frame(self, output: FrameOutput) -> None:
        """Queue one pose document on its camera's topic, then the count and states it changed."""
        result, m = output.result, self.mqtt
        people = len(result.poses)
        with self._reload_lock:  # what the hold kept, now due (a reload drops a removed zone's first)
            self.states.publish_due()
        layout = self.layout
        camera = self.policy.route(layout, result.camera)
        if camera.configured:
            self.states.count(layout, camera, people)
        if self.policy.admit(camera, people) and camera.routable:
            message = Message(
                camera.topics.poses,
                output.line.encode(),
                m.qos_poses,
                kind="poses",
                expiry=m.poses_expiry,
                content_type=CONTENT_TYPE,
                schema=POSES_SCHEMA,
            )
            self.transport.publish(message)
        if output.zones or output.fall is not None:
            with self._reload_lock:  # a frame of the stage before a reload: only the zones configured now
                current = self.layout.cameras.get(result.camera)
                if current is None:
                    return
                self.states.zones(current, [(zone, encode(doc).encode()) for zone, doc in output.zones])
                if self.layout.falls_on and output.fall is not None:
                    self.states.fall(current, encode(output.fall).encode())

    def _events(self, output: FrameOutput) -> None:
        """Each event on its camera's ``<prefix>/<camera>/events``, QoS 1, not retained, counted as ``events``.

        Not subject to ``only_with_poses`` or ``max_rate``: a zone_leave happens on a frame without
        people, and an event dropped for the rate is a state change lost."""
        if not output.event_lines:
            return
        camera = self.policy.route(self.layout, output.camera)
        if not camera.routable:
            return
        for line in output.event_lines:
            self.transport.publish(Message(camera.topics.events, line.encode(), 1, kind="events"))

    def _reload(self, config: Config, meta: dict[str, Any]) -> None:
        """A reload changed ``analysis`` or ``cameras``: announce what is new, clear what is gone, republish ``meta``.

        In this order: the counts (:meth:`RetainedStates.reload_counts`); new zones', cameras' (and
        the fall sensors') discovery configs published, removed ones emptied (Home Assistant removes
        the entities); then the retained states of removed zones (and the fall state once falls are
        off or its camera is gone). A removed camera loses all of them. Every changed retained message
        goes through :meth:`MqttTransport.set_state`, so the latest value wins after a reconnect too
        (a zone removed, then added again, is not emptied by a stale clear). The old stage may
        publish a frame or two after this: :meth:`write` only publishes the states of zones
        configured now, and a removed camera's frames as a camera not configured.
        """
        qos = self.mqtt.qos_status
        with self._reload_lock:
            was = self.layout
            self.layout = Layout.of(config, was.topics)
            self.policy.reloaded(self.layout)
            self.states.reload_counts(was, self.layout)
            self._meta = meta
            before, self._announcements = self._announcements, announcements(self.layout, meta)
            for topic, payload in changes(before, self._announcements):
                self.transport.set_state(topic, payload, qos)
            self.states.reload_states(was, self.layout)
        _log_reload(was, self.layout)

    def publish_document(
        self, topic: str, document: dict[str, Any], *, kind: str, qos: int, retain: bool = False
    ) -> bool:
        """Publish one document on ``topic``, buffered while offline, resent (QoS>=1) and counted as
        ``kind`` (``published_<kind>`` in :meth:`counters`); never blocks. False if over ``mqtt.max_payload``."""
        return self.transport.publish(Message(topic, encode(document).encode(), qos, retain, kind=kind))

    def _reps_command(self, topic: str, payload: bytes) -> None:
        """A message on ``<prefix>/<camera>/reps/reset`` (:meth:`RepsCommands.on_message`)."""
        self.reps.on_message(topic, payload)

    def close(self) -> None:
        """Send what can be sent within ``service.shutdown_timeout``, the last stats, ``offline``, disconnect.

        Whatever is still unsent at the deadline is counted as dropped and logged.
        """
        if not self.transport.started:
            return
        self.transport.close(lambda: [self._stats_message()])
        log.info(
            "mqtt: closed: %s published, %d dropped, %s",
            counted(self.published, "pose message"),
            self.dropped,
            counted(self.transport.reconnects, "reconnect"),
        )


def _log_reload(was: Layout, now: Layout) -> None:
    """One line: the zones in effect, and what the reload added or removed."""
    several = now.several or was.several

    def names(layout: Layout) -> list[str]:
        return [f"{c.name}/{z}" if several else z for c in layout.cameras.values() for z in c.zones]

    old, new = names(was), names(now)
    added, gone = [z for z in new if z not in old], [z for z in old if z not in new]
    cams_added = [c for c in now.cameras if c not in was.cameras]
    cams_gone = [c for c in was.cameras if c not in now.cameras]
    falls = "" if was.falls_on == now.falls_on else f"; fall detection {'on' if now.falls_on else 'off'}"
    cams = f"; cameras added {', '.join(cams_added)}" if cams_added else ""
    cams += f"; cameras removed {', '.join(cams_gone)}" if cams_gone else ""
    log.info(
        "mqtt: analysis reloaded: zones %s%s%s%s%s",
        ", ".join(new) or "none",
        f"; added {', '.join(added)}" if added else "",
        f"; removed {', '.join(gone)}" if gone else "",
        falls,
        cams,
    )
