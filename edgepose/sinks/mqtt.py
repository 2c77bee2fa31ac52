"""The MQTT sink: publishes every pose document, and the daemon's status, without ever blocking frames.

Three threads touch it:

- the pipeline thread calls :meth:`MqttSink.write`, which only applies the publishing policy and
  appends to a bounded ring buffer (:mod:`edgepose.mqtt.buffer`); it never waits on the network;
- a publisher thread of ours moves messages from the ring buffer to paho while connected, keeping
  at most ``WINDOW`` of them unacknowledged, and publishes stats every ``stats_interval``;
- paho's network thread (``connect_async`` + ``loop_start``) connects, reconnects and calls back.

Delivery: with QoS 1 a pose message is either acknowledged by the broker, still in the buffer or
paho's in-flight window (resent after a reconnect), or counted as dropped. QoS 0 messages not yet
written to the socket when the connection drops are put back at the head of the buffer; QoS 0
cannot tell about messages the broker lost after they left the socket.

Locking rule: paho calls ``on_publish`` while holding its own message lock, so we never call into
paho while holding ``self._cond``.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from edgepose.config.sections import Config
from edgepose.document import encode
from edgepose.logs import counted
from edgepose.mqtt.buffer import Message, RingBuffer
from edgepose.mqtt.connect import Will, build_client, client_id_for, describe_connect_error, describe_refusal, start
from edgepose.mqtt.homeassistant import discovery_messages
from edgepose.mqtt.topics import Topics
from edgepose.pose import FrameResult
from edgepose.stats import RunStats
from edgepose.system import cpu_temperature, rss_bytes, throttled

log = logging.getLogger(__name__)

WINDOW = 32  # pose messages handed to paho and not yet acknowledged (QoS>=1) or written (QoS 0)
STATUS_SLOTS = 8  # extra paho in-flight slots so status messages never wait behind poses
STATS_SCHEMA = "edgepose.stats/1"


def backoff_delay(attempt: int, low: float, high: float, u: float) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 = first retry).

    Capped exponential backoff with "equal jitter": the cap ``low * 2**attempt`` (at most ``high``)
    times a factor in [0.5, 1) drawn from ``u`` in [0, 1), never below ``low``. The jitter keeps a
    fleet of devices from reconnecting in lock-step after a broker restart.
    """
    cap = min(high, low * 2.0 ** min(attempt, 64))
    return min(high, max(low, cap * (0.5 + 0.5 * u)))


def host_facts() -> dict[str, Any]:
    """The host figures the stats topic carries (None where the host does not expose them)."""
    return {"cpu_temperature_c": cpu_temperature(), "throttled": throttled(), "rss_bytes": rss_bytes()}


class MqttSink:
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
        self.rng = rng or random.Random()
        self.topics = Topics.from_config(config)
        self.client_id = client_id_for(config)
        self._cond = threading.Condition()
        self._buffer = RingBuffer(max(1, self.mqtt.buffer_messages), max(1, self.mqtt.buffer_bytes))
        self._outstanding: dict[int, Message] = {}  # mid -> message handed to paho, not yet acknowledged
        self._early_acks: set[int] = set()  # acknowledged before publish() returned its mid to us
        self._sending = 0  # taken from the buffer, being handed to paho
        self._resending: set[int] = set()  # QoS>=1 mids paho resends after a reconnect: sent before the buffer
        self._connected = False
        self._ever_connected = False
        self._disconnected_mono: float | None = None
        self._attempt = 0
        self._last_failure = ""
        self._dropping = False
        self._dropped_at_drop_start = 0
        self._stop = False
        self._closing = False
        self._pending_count: int | None = None
        self._last_count: int | None = None
        self._last_sent_mono: float | None = None
        self._meta_payload = b""
        self._client: paho.Client | None = None
        self._thread: threading.Thread | None = None
        # counters (read through counters())
        self.published = 0  # pose messages acknowledged (QoS>=1) or written to the socket (QoS 0)
        self.dropped_oversize = 0
        self.dropped_shutdown = 0
        self.skipped_policy = 0
        self.reconnects = 0
        self.connect_failures = 0

    # -- the Sink interface ------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Every pose message that will never reach the broker, whatever the reason."""
        return self._buffer.dropped + self.dropped_oversize + self.dropped_shutdown

    def open(self, meta: dict[str, Any]) -> None:
        """Start connecting in the background; returns at once, whether or not the broker is up."""
        meta = {**meta, "topics": {"available": self.topics.available, "poses": self.topics.poses,
                                   "stats": self.topics.stats, "count": self.topics.count}}  # fmt: skip
        self._meta_payload = encode(meta).encode()
        will = Will(self.topics.available, "offline", qos=self.mqtt.qos_status, retain=True)
        client = build_client(self.mqtt, self.client_id, will)
        client.max_inflight_messages_set(WINDOW + STATUS_SLOTS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._next_stats = self.clock() + self.mqtt.stats_interval
        self._thread = threading.Thread(target=self._publisher, name="edgepose-mqtt", daemon=True)
        self._thread.start()
        log.info(
            "mqtt: connecting to %s:%d as %s (MQTT %s%s), poses to %s",
            self.mqtt.host,
            self.mqtt.port,
            self.client_id,
            self.mqtt.protocol,
            ", TLS" if self.mqtt.tls.enabled else "",
            self.topics.poses,
        )
        start(client, self.mqtt)

    def write(self, result: FrameResult, document: dict[str, Any], line: str) -> None:
        """Queue one pose document; never blocks on the network."""
        people = len(result.poses)
        m = self.mqtt
        with self._cond:
            if m.publish_count and people != self._last_count:
                self._last_count = self._pending_count = people
                self._cond.notify()
            if m.only_with_poses and people == 0:
                self.skipped_policy += 1
                return
            if m.max_rate > 0:
                now = self.clock()
                if self._last_sent_mono is not None and now - self._last_sent_mono < 1.0 / m.max_rate:
                    self.skipped_policy += 1
                    return
                self._last_sent_mono = now
        payload = line.encode()
        if len(payload) > m.max_payload:
            with self._cond:
                self.dropped_oversize += 1
                first = self.dropped_oversize == 1
            if first:
                log.warning("mqtt: a pose message of %d bytes is over mqtt.max_payload (%d): dropped and counted "
                            "(this is logged once)", len(payload), m.max_payload)  # fmt: skip
            return
        message = Message(self.topics.poses, payload, m.qos_poses)
        with self._cond:
            # Fast path: nothing older is waiting, so hand it to paho here (publish() only queues
            # the packet for paho's thread) and spare the publisher thread a wake-up per frame.
            direct = (self._connected and not self._closing and len(self._buffer) == 0 and self._sending == 0
                      and not self._resending and len(self._outstanding) < WINDOW)  # fmt: skip
            if direct:
                self._sending += 1
            else:
                if n := self._buffer.push(message):
                    self._note_drops(n)
                self._cond.notify()
        if direct and not self._send(message, from_buffer=True):
            with self._cond:
                self._sending -= 1
                if n := self._buffer.push_front([message]):
                    self._note_drops(n)
                self._cond.notify()

    def close(self) -> None:
        """Send what can be sent within ``service.shutdown_timeout``, publish ``offline``, disconnect.

        Whatever is still unsent at the deadline is counted as dropped and logged.
        """
        client = self._client
        if client is None:
            return
        deadline = self.clock() + self.config.service.shutdown_timeout
        with self._cond:
            self._closing = True
            self._cond.wait_for(lambda: not self._connected or self._queue_depth() == 0,
                                timeout=max(0.0, deadline - self.clock()))  # fmt: skip
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - self.clock()))
        if self._connected:
            self._publish_stats()
            info = client.publish(self.topics.available, "offline", qos=self.mqtt.qos_status, retain=True)
            if self.mqtt.qos_status > 0:
                info.wait_for_publish(timeout=max(0.1, deadline - self.clock()))
            with self._cond:
                self._cond.wait_for(lambda: not self._pose_outstanding(), timeout=max(0.0, deadline - self.clock()))
        with self._cond:
            left = len(self._buffer) + self._pose_outstanding() + self._sending
            self.dropped_shutdown += left
        if left:
            log.warning(
                "mqtt: %s could not be sent before shutdown (counted as dropped)", counted(left, "pose message")
            )
        client.disconnect()
        client.loop_stop()
        self._client = None
        log.info("mqtt: closed: %s published, %d dropped, %s", counted(self.published, "pose message"),
                 self.dropped, counted(self.reconnects, "reconnect"))  # fmt: skip

    def counters(self) -> dict[str, int | float]:
        """The sink's figures for the stats topic and /metrics (all numbers)."""
        with self._cond:
            return {
                "connected": int(self._connected),
                "queue_depth": self._queue_depth(),
                "buffer_bytes": self._buffer.nbytes,
                "published": self.published,
                "dropped": self.dropped,
                "dropped_buffer_full": self._buffer.dropped,
                "dropped_oversize": self.dropped_oversize,
                "dropped_shutdown": self.dropped_shutdown,
                "skipped_policy": self.skipped_policy,
                "reconnects": self.reconnects,
                "connect_failures": self.connect_failures,
            }

    # -- the publisher thread ----------------------------------------------------------------------

    def _publisher(self) -> None:
        interval = self.mqtt.stats_interval
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    now = self.clock()
                    stats_due = interval > 0 and now >= self._next_stats
                    room = WINDOW - len(self._outstanding) - self._sending
                    sendable = self._connected and len(self._buffer) > 0 and room > 0 and not self._resending
                    count_due = self._connected and self._pending_count is not None
                    if sendable or stats_due or count_due:
                        break
                    self._cond.wait(max(0.0, self._next_stats - now) if interval > 0 else None)
                batch = self._buffer.pop_many(room) if sendable else []
                self._sending += len(batch)
                count = self._pending_count if count_due else None
                if count_due:
                    self._pending_count = None
                if self._dropping and len(self._buffer) == 0:
                    self._dropping = False
                    dropped = self._buffer.dropped - self._dropped_at_drop_start
                    log.info("mqtt: the buffer has room again; %s dropped while it was full",
                             counted(dropped, "message was", "messages were"))  # fmt: skip
            if stats_due:
                self._next_stats = max(self._next_stats + interval, now)
                if self._connected:
                    self._publish_stats()
            if count is not None:
                self._send(Message(self.topics.count, str(count).encode(), self.mqtt.qos_status, True, pose=False))
            for i, message in enumerate(batch):
                if not self._send(message, from_buffer=True):
                    with self._cond:  # connection gone: put this and the rest back, oldest first
                        self._sending -= len(batch) - i
                        if n := self._buffer.push_front(batch[i:]):
                            self._note_drops(n)
                    break

    def _send(self, message: Message, from_buffer: bool = False) -> bool:
        """Hand one message to paho and track it until acknowledged. False when not accepted."""
        client = self._client
        if client is None:
            return False
        info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        # QoS>=1 messages are kept by paho even without a connection (sent after reconnecting).
        accepted = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
            message.qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        )
        with self._cond:
            if accepted:
                if info.mid in self._early_acks:
                    self._early_acks.discard(info.mid)
                    self._acknowledged(message)
                else:
                    self._outstanding[info.mid] = message
                if from_buffer:
                    self._sending -= 1
        return accepted

    def _publish_stats(self) -> None:
        document = self.stats_document()
        self._send(Message(self.topics.stats, encode(document).encode(), self.mqtt.qos_status, False, pose=False))

    def stats_document(self) -> dict[str, Any]:
        """The ``stats`` message: pipeline figures, host facts and this sink's counters."""
        return {
            "schema": STATS_SCHEMA,
            "device": self.config.device_id,
            "camera": self.config.source.camera,
            "ts": round(self.wall(), 3),
            **self.stats.snapshot(self.clock()),
            **self.facts(),
            "mqtt": self.counters(),
        }

    # -- paho callbacks (paho's network thread) ----------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            with self._cond:
                self.connect_failures += 1
            self._log_failure(f"{self.mqtt.host}:{self.mqtt.port} refused the connection: {describe_refusal(reason)}")
            return
        # Status first: online and meta (retained), so a subscriber can read what follows.
        self._send(Message(self.topics.available, b"online", self.mqtt.qos_status, True, pose=False))
        self._send(Message(self.topics.meta, self._meta_payload, self.mqtt.qos_status, True, pose=False))
        if self.mqtt.homeassistant.enabled:
            for topic, doc in discovery_messages(self.mqtt.homeassistant.discovery_prefix, self.config.device_id,
                                                 self.topics):  # fmt: skip
                self._send(Message(topic, encode(doc).encode(), self.mqtt.qos_status, True, pose=False))
        now = self.clock()
        with self._cond:
            self._connected = True
            # paho resends its unacknowledged QoS>=1 messages right after this callback; hold the
            # buffer back until they are acknowledged so poses arrive in order.
            self._resending = {mid for mid, m in self._outstanding.items() if m.qos > 0}
            self._attempt = 0
            self._last_failure = ""
            if self._last_count is not None:
                self._pending_count = self._last_count  # the broker may have lost it (restarted)
            waiting = len(self._buffer)
            if self._ever_connected:
                self.reconnects += 1
            reconnect, self._ever_connected = self._ever_connected, True
            offline_s = now - self._disconnected_mono if self._disconnected_mono is not None else 0.0
            self._cond.notify_all()
        if reconnect:
            log.info("mqtt: reconnected to %s:%d after %.1f s; sending %s",
                     self.mqtt.host, self.mqtt.port, offline_s, counted(waiting, "buffered message"))  # fmt: skip
        else:
            log.info("mqtt: connected to %s:%d", self.mqtt.host, self.mqtt.port)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError` block: the exception is still current.
        exc = sys.exc_info()[1]
        with self._cond:
            self.connect_failures += 1
        self._log_failure(describe_connect_error(exc, self.mqtt.host, self.mqtt.port))
        self._schedule_retry(client)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        with self._cond:
            was_connected, self._connected = self._connected, False
            if was_connected:
                self._disconnected_mono = self.clock()
            # QoS 0 messages paho had not written yet are discarded on reconnect: take them back.
            unsent = [mid for mid, m in self._outstanding.items() if m.qos == 0]
            back = [m for m in (self._outstanding.pop(mid) for mid in unsent) if m.pose]
            if back and (n := self._buffer.push_front(back)):
                self._note_drops(n)
            stopping = self._stop
            self._cond.notify_all()
        if was_connected and not stopping:
            log.warning(
                "mqtt: lost the connection to %s:%d (%s); buffering up to %d messages / %d bytes, retrying",
                self.mqtt.host,
                self.mqtt.port,
                reason,
                self._buffer.max_messages,
                self._buffer.max_bytes,
            )
        if not stopping:
            self._schedule_retry(client)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            message = self._outstanding.pop(mid, None)
            self._resending.discard(mid)
            if message is None:
                self._early_acks.add(mid)
            else:
                self._acknowledged(message)
            if len(self._buffer) or self._closing:  # someone may be waiting for room or for the last ack
                self._cond.notify_all()

    # -- helpers -----------------------------------------------------------------------------------

    def _acknowledged(self, message: Message) -> None:
        if message.pose:
            self.published += 1

    def _queue_depth(self) -> int:
        return len(self._buffer) + self._pose_outstanding() + self._sending

    def _pose_outstanding(self) -> int:
        return sum(1 for m in self._outstanding.values() if m.pose)

    def _note_drops(self, n: int) -> None:
        """Called with the lock held after the buffer evicted ``n`` messages: log the first of a run only."""
        if not self._dropping:
            self._dropping = True
            self._dropped_at_drop_start = self._buffer.dropped - n
            log.warning(
                "mqtt: the buffer is full (%d messages / %d bytes): dropping the oldest, counting each",
                self._buffer.max_messages,
                self._buffer.max_bytes,
            )

    def _log_failure(self, text: str) -> None:
        """One warning per kind of failure; repeats of the same one go to debug."""
        if text != self._last_failure:
            self._last_failure = text
            log.warning("mqtt: %s; retrying with backoff up to %g s", text, self.mqtt.reconnect_max)
        else:
            log.debug("mqtt: %s (again)", text)

    def _schedule_retry(self, client: paho.Client) -> None:
        """Jittered backoff for paho's next reconnect: paho's own doubles without jitter, so we pin
        its min and max to our delay before each wait (paho calls back just before waiting)."""
        with self._cond:
            attempt = self._attempt
            self._attempt += 1
        delay = backoff_delay(attempt, self.mqtt.reconnect_min, self.mqtt.reconnect_max, self.rng.random())
        client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]
