"""A fleet subscriber: one broker connection, typed documents out, paho kept inside.

paho's network thread only puts what arrives on a queue; the caller's thread parses, validates
and checks sequences as it iterates, so nothing is shared between threads but that queue. The
connection settings are the daemon's ``mqtt`` section (host, port, protocol, user name, password
from wherever the config reads it, TLS), built with :mod:`edgepose.mqtt.connect`'s helpers.
"""

from __future__ import annotations

import fnmatch
import logging
import queue
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgepose.client.documents import (
    KINDS,
    Availability,
    Document,
    Invalid,
    Poses,
    TopicLayout,
    parse_message,
    schema_validators,
)
from edgepose.client.sequence import Gap, SequenceTracker
from edgepose.config.sections import MqttConfig
from edgepose.errors import ConfigError, UnavailableError
from edgepose.mqtt.connect import AUTH_REFUSALS, PROTOCOLS, configure_tls, describe_connect_error, describe_refusal

log = logging.getLogger(__name__)

Item = Document | Gap | Invalid
GLOB = frozenset("*?[")


class FleetClient:
    """Subscribes to the documents of ``devices`` and ``cameras`` and yields them typed.

    ``devices``, ``cameras``: names or shell patterns (``pi-*``); exact names are subscribed to
    exactly, patterns as ``+`` and filtered here. ``kinds``: some of poses, events, stats, meta,
    available. ``share``: join the shared subscription group ``$share/<share>/...`` (the broker
    gives each message to one member). ``client_id`` with ``clean=False`` keeps a session on the
    broker: QoS 1 messages published while this client is away are delivered when it is back.
    ``validate``: check each document against its schema (needs jsonschema). ``manual_ack``: a QoS 1
    message is acknowledged to the broker only when :meth:`acknowledge` is called after its items
    were taken (the caller has stored them), so with a kept session nothing taken is lost when the
    caller dies before storing it: the broker delivers it again.

    Iterating yields :class:`Poses`, :class:`Event`, :class:`Stats`, :class:`Meta`,
    :class:`Availability`, a :class:`Gap` before the pose document that follows missing frames,
    and :class:`Invalid` for a message that is not its topic's document.
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        *,
        devices: Sequence[str] = ("*",),
        cameras: Sequence[str] = ("*",),
        kinds: Sequence[str] = KINDS,
        layout: TopicLayout | None = None,
        client_id: str = "",
        clean: bool = True,
        share: str = "",
        qos: int = 1,
        validate: bool = True,
        manual_ack: bool = False,
    ) -> None:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"unknown document kind(s) {unknown}", f"choose from {', '.join(KINDS)}")
        if share and any(c in share for c in "/+#"):
            raise ConfigError(f"shared subscription group {share!r} may not hold / + or #")
        if not clean and not client_id:
            raise ConfigError("a kept session (clean=False) needs a client_id the broker can find it by")
        self.mqtt = mqtt
        self.devices = tuple(devices)
        self.cameras = tuple(cameras)
        self.kinds = tuple(kinds)
        self.layout = layout or TopicLayout()
        self.share = share
        self.qos = qos
        self.clean = clean
        self.client_id = client_id or f"edgepose-client-{uuid.uuid4().hex[:12]}"
        self.validators = schema_validators() if validate else None
        self.manual_ack = manual_ack
        self._taken: list[tuple[int, int]] = []  # (mid, qos) of messages whose items were all yielded
        self.sequence = SequenceTracker()
        self.invalid = 0
        self.received = 0
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._subscribed = threading.Event()
        self._client: paho.Client | None = None
        self._refusal = ""
        self._failure = ""

    @classmethod
    def from_config(cls, path: str | Path | None = None, overrides: Sequence[str] = (), **options: Any) -> FleetClient:
        """A client with the ``mqtt`` settings of an edgepose config file (the daemon's own, say)."""
        from edgepose.config import load_config

        config = load_config(str(path) if path else None, list(overrides))
        if "layout" not in options and "{device}" in config.mqtt.topic_prefix:
            options["layout"] = TopicLayout(config.mqtt.topic_prefix.rstrip("/"))
        return cls(config.mqtt, **options)

    # -- connection ------------------------------------------------------------------------------

    def filters(self) -> list[str]:
        """The topic filters subscribed to (with ``$share/<group>/`` when shared)."""
        devices = self.devices if all(not (GLOB & set(d)) for d in self.devices) else ("+",)
        cameras = self.cameras if all(not (GLOB & set(c)) for c in self.cameras) else ("+",)
        out: list[str] = []
        for device in devices:
            for camera in cameras:
                out += [f for f in self.layout.filters(self.kinds, device, camera) if f not in out]
        return [f"$share/{self.share}/{f}" for f in out] if self.share else out

    def connect(self, timeout: float = 10.0) -> FleetClient:
        """Connect and subscribe; returns once the broker has acknowledged the subscription.

        Raises :class:`ConfigError` when the broker refuses us (credentials, ACL) and
        :class:`UnavailableError` when it cannot be reached within ``timeout`` s. paho keeps
        reconnecting (and subscribing again) after that.
        """
        protocol = PROTOCOLS[self.mqtt.protocol]
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            clean_session=self.clean if protocol == paho.MQTTv311 else None,
            manual_ack=self.manual_ack,
        )
        if self.mqtt.username:
            client.username_pw_set(self.mqtt.username, self.mqtt.password or None)
        if self.mqtt.tls.enabled:
            configure_tls(client, self.mqtt.tls)
        client.reconnect_delay_set(self.mqtt.reconnect_min, self.mqtt.reconnect_max)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = lambda *a: self._subscribed.set()
        client.on_message = lambda c, u, m: self._events.put(("message", m.topic, bytes(m.payload), m.mid, m.qos))
        client.on_disconnect = lambda c, u, flags, reason, p: log.info("client: disconnected: %s", reason)
        properties = None
        if protocol == paho.MQTTv5 and not self.clean:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 0xFFFFFFFF  # kept until the broker's own limit
        clean_start: Any = self.clean if protocol == paho.MQTTv5 else paho.MQTT_CLEAN_START_FIRST_ONLY
        client.connect_async(
            self.mqtt.host,
            self.mqtt.port,
            keepalive=self.mqtt.keepalive,
            clean_start=clean_start,
            properties=properties,
        )
        client.loop_start()
        self._client = client
        if not self._subscribed.wait(timeout) or self._refusal:
            self.close()
            where = f"{self.mqtt.host}:{self.mqtt.port}"
            if self._refusal:
                raise ConfigError(f"the broker at {where} refused the connection: {self._refusal}")
            raise UnavailableError(
                f"could not subscribe at the broker at {where} within {timeout:g} s",
                self._failure or "check mqtt.host, mqtt.port and that the broker runs",
            )
        return self

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if reason.value in AUTH_REFUSALS:
                self._refusal = describe_refusal(reason)
                self._subscribed.set()  # wake connect(): retrying cannot help
                self._events.put(("refused", self._refusal))
            return
        client.subscribe([(f, self.qos) for f in self.filters()])  # again on every connect

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._failure = describe_connect_error(sys.exc_info()[1], self.mqtt.host, self.mqtt.port)

    def close(self) -> None:
        """Disconnect; iteration then ends once what already arrived has been yielded."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
            self._events.put(("closed",))

    def __enter__(self) -> FleetClient:
        return self if self._client is not None else self.connect()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- iteration -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Item]:
        return self.documents(timeout=None)

    def documents(self, timeout: float | None = None) -> Iterator[Item]:
        """Like iterating, but ends once ``timeout`` s pass with no message (None: only on close)."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if event[0] == "closed":
                return
            if event[0] == "refused":
                raise ConfigError(f"the broker refused the connection: {event[1]}")
            items = self.handle(event[1], event[2])
            receipt = self.manual_ack and event[4] > 0
            if receipt and not items:
                self._taken.append((event[3], event[4]))
            for i, item in enumerate(items):
                if receipt and i == len(items) - 1:  # taken once the caller has its last item
                    self._taken.append((event[3], event[4]))
                yield item

    @property
    def caught_up(self) -> bool:
        """Nothing that arrived waits to be taken (a good moment to store and :meth:`acknowledge`)."""
        return self._events.empty()

    @property
    def unacknowledged(self) -> int:
        """Messages taken (every item yielded) and not acknowledged yet (``manual_ack``)."""
        return len(self._taken)

    def acknowledge(self) -> int:
        """Acknowledge to the broker every message taken so far (``manual_ack``); returns how many.

        Call it once what was taken is stored (a message counts as taken when its last item has been
        yielded): one whose items were not all yielded (the caller stopped iterating in between) is
        not acknowledged, and comes again with a kept session.
        """
        taken, self._taken = self._taken, []
        client = self._client
        if client is not None:
            for mid, qos in taken:
                client.ack(mid, qos)
        return len(taken)

    def handle(self, topic: str, payload: bytes) -> list[Item]:
        """Parse one message into what iteration yields (public for replaying captured messages)."""
        placed = self.layout.parse(topic)
        if placed is None:
            return []
        device, camera, kind = placed
        if not _matches(device, self.devices) or (camera and not _matches(camera, self.cameras)):
            return []
        self.received += 1
        doc = parse_message(topic, payload, device, camera, kind, self.validators)
        if isinstance(doc, Invalid):
            self.invalid += 1
            log.debug("client: %s: %s", topic, doc.reason)
            return [doc]
        if isinstance(doc, Availability):
            return [doc]
        if doc.device != device:
            self.invalid += 1
            return [
                Invalid(
                    topic, device, f"document says device {doc.device!r}, its topic {device!r}", payload, "wrong device"
                )
            ]
        if isinstance(doc, Poses):
            gap = self.sequence.observe(doc.device, doc.camera, doc.frame, doc.ts)
            return [gap, doc] if gap else [doc]
        return [doc]


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


__all__ = ["FleetClient", "Item"]
