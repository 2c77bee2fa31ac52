"""The MQTT transport: one connection, its offline buffer, acknowledgements and reconnects.

It knows nothing of poses. A sink (:mod:`edgepose.sinks.mqtt`) decides what to publish and
hands the transport one of four kinds of message:

- :meth:`MqttTransport.publish`: a counted message (poses, events): bounded by ``mqtt.max_payload``,
  buffered while offline (:mod:`edgepose.mqtt.buffer`, the oldest go when full), resent after a
  reconnect when QoS >= 1, and counted per ``Message.kind`` as published or dropped. Never blocks.
- :meth:`MqttTransport.set_state`: a retained latest-value message (the people count, a zone's
  state): sent when connected, replaced by a newer value before it is sent, sent again after
  every reconnect (the broker may have restarted and lost it).
- ``announce`` (given to :meth:`~MqttTransport.start`): the status messages sent first on every
  connection, before anything buffered (availability, meta, discovery);
  ``periodic``: a status message built on the publisher thread every ``interval`` s while connected
  (stats); ``last`` (given to :meth:`~MqttTransport.close`): sent before the clean disconnect.

Three threads touch it: the pipeline's (``publish``, ``set_state``: they only append and notify),
a publisher thread of ours (moves buffered messages to paho while connected, keeping at most
``WINDOW`` unacknowledged), and paho's network thread (connects, reconnects, calls back).

Delivery: with QoS 1 a counted message is either acknowledged by the broker, still in the buffer
or paho's in-flight window (resent after a reconnect), or counted as dropped. QoS 0 messages not
yet written to the socket when the connection drops are put back at the head of the buffer.

Locking rule: paho calls ``on_publish`` while holding its own message lock, so we never call into
paho while holding ``self._cond``.
"""

from __future__ import annotations

import logging
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edgepose.backoff import Backoff
from edgepose.config.sections import MqttConfig
from edgepose.logs import counted
from edgepose.mqtt.buffer import Message, RingBuffer
from edgepose.mqtt.connect import (
    PROTOCOL_ERROR,
    Will,
    build_client,
    describe_before_connack,
    describe_connect_error,
    describe_refusal,
    start,
)
from edgepose.mqtt.transport_state import (
    POSES,
    Aliases,
    Connection,
    Counters,
    Delivery,
    Schedule,
    States,
    Subscriptions,
    Watch,
)

log = logging.getLogger(__name__)

WINDOW = 32  # counted messages handed to paho and not yet acknowledged (QoS>=1) or written (QoS 0)
STATUS_SLOTS = 8  # extra paho in-flight slots so status messages never wait behind counted ones
POSES_ALIAS = 1  # the MQTT 5 topic alias of the pose topic (one camera per sink: one topic)
SHORT_S = 5.0  # a connection lost sooner than this after its CONNACK is a short one
TAKEN_OVER_AFTER = 3  # short connections in a row that say another client has this client id


class MqttTransport:
    """One broker connection that buffers, acknowledges and reconnects (see the module's doc).

    ``clock`` (monotonic s) paces ``periodic`` and the shutdown deadline; ``rng`` draws the
    reconnect jitter. Tests inject both.
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        client_id: str,
        will: Will,
        *,
        shutdown_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.client_id = client_id
        self.will = will
        self.shutdown_timeout = shutdown_timeout
        self.clock = clock
        self.rng = rng or random.Random()
        self.backoff = Backoff(mqtt.reconnect_min, mqtt.reconnect_max)
        self._cond = threading.Condition()  # guards every group below (their module says which fields)
        self._client: paho.Client | None = None
        self._thread: threading.Thread | None = None
        self.delivery = Delivery(RingBuffer(max(1, mqtt.buffer_messages), max(1, mqtt.buffer_bytes)))
        self.states = States()
        self.subscriptions = Subscriptions()
        self.connection = Connection()
        self.aliases = Aliases(v5=mqtt.protocol == "5")
        self.schedule = Schedule()
        self.counts = Counters()

    # -- figures (the groups hold them; these names are the transport's interface) -----------------

    @property
    def published(self) -> dict[str, int]:
        """Counted messages acknowledged (QoS>=1) or written (QoS 0), per kind."""
        return self.counts.published

    @property
    def dropped_oversize(self) -> int:
        return self.counts.dropped_oversize

    @property
    def dropped_shutdown(self) -> int:
        return self.counts.dropped_shutdown

    @property
    def reconnects(self) -> int:
        return self.counts.reconnects

    @property
    def connect_failures(self) -> int:
        return self.counts.connect_failures

    @property
    def subscriptions_refused(self) -> int:
        return self.counts.subscriptions_refused

    # -- what a sink calls -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def listening(self) -> bool:
        """Connected, with every :meth:`watch` subscription granted by the broker.

        Until then a command published without retain is not delivered to this client: MQTT has
        no subscription for it yet, so a caller that sends one right after connecting waits for this.
        """
        with self._cond:
            return self.connection.connected and self.subscriptions.listening

    @property
    def trouble(self) -> str | None:
        """Why the last connection attempt was refused, when retrying alone will not help: the
        broker said no (credentials, ACL, client id) or TLS failed. None while connected, or while
        the broker is merely away (an outage the buffer covers)."""
        with self._cond:
            if (
                self.connection.taken_over
                and self.connection.connected
                and self.clock() - self.connection.connected_mono >= SHORT_S
            ):
                self.connection.taken_over, self.connection.short_run = (
                    None,
                    0,
                )  # this connection lasts: the other client is gone
            return self.connection.trouble or self.connection.taken_over

    @property
    def started(self) -> bool:
        """Between :meth:`start` and the end of :meth:`close`."""
        return self._client is not None

    @property
    def dropped(self) -> int:
        """Every counted message that will never reach the broker, whatever the reason."""
        return self.delivery.buffer.dropped + self.counts.dropped_oversize + self.counts.dropped_shutdown

    def watch(
        self,
        topic_filter: str,
        on_message: Callable[[str, bytes], None],
        retained: bool = True,
        on_retained: Callable[[str, bytes], None] | None = None,
        *,
        first: bool = False,
    ) -> None:
        """Subscribe to ``topic_filter`` on every connection (before :meth:`start`).

        ``on_message(topic, payload)`` runs on paho's network thread for each message, retained
        ones included: how a sink learns what an earlier run left on the broker (zone entities of
        zones no longer configured). It must be quick and may only call :meth:`set_state`/:meth:`publish`
        (or hand the message to another thread). ``retained=False`` hands retained messages to
        ``on_retained`` instead (None: dropped): a command someone published retained would otherwise
        run again at every connect. On MQTT 5 a message published retained while we are subscribed
        keeps its flag too (Retain As Published); MQTT 3.1.1 clears it on delivery, so there only the
        ones the broker hands over at subscribe time are known to be retained.

        ``first``: subscribed before the connection's announcements (``announce``), so the retained
        message it gets at subscribe time is what was there before this connection, not what it
        announces (the last run's ``meta``, not this run's). The others are subscribed after them.
        """
        self.subscriptions.watches.append(Watch(topic_filter, on_message, retained, on_retained, first))

    def _on_message(self, client: paho.Client, userdata: Any, message: Any) -> None:
        for watch in self.subscriptions.watches:
            if not paho.topic_matches_sub(watch.topic_filter, message.topic):
                continue
            handle = watch.on_message if watch.retained or not message.retain else watch.on_retained
            if handle is None:
                continue
            try:
                handle(message.topic, message.payload)
            except Exception:  # never into paho's thread: it would stop the network loop
                log.exception("mqtt: handling a message on %s failed", message.topic)

    def start(
        self,
        announce: Callable[[], Sequence[Message]] = tuple,
        periodic: Callable[[], Message] | None = None,
        interval: float = 0.0,
    ) -> None:
        """Start connecting in the background; returns at once, whether or not the broker is up.

        ``announce()`` gives the status messages sent first on each connection; ``periodic()``
        one built every ``interval`` s (0: never) while connected.
        """
        self.schedule.announce = announce
        self.schedule.periodic, self.schedule.interval = periodic, interval
        client = build_client(self.mqtt, self.client_id, self.will)
        client.max_inflight_messages_set(WINDOW + STATUS_SLOTS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        self.schedule.next_periodic = self.clock() + interval
        self._thread = threading.Thread(target=self._publisher, name="edgepose-mqtt", daemon=True)
        self._thread.start()
        start(client, self.mqtt)

    def publish(self, message: Message) -> bool:
        """Queue one counted message (``message.kind``); never blocks on the network.

        False when it is over ``mqtt.max_payload`` (dropped and counted, logged once).
        """
        if len(message.payload) > self.mqtt.max_payload:
            with self._cond:
                self.counts.dropped_oversize += 1
                first = self.counts.dropped_oversize == 1
            if first:
                log.warning(
                    "mqtt: a %s message of %d bytes is over mqtt.max_payload (%d): dropped and counted "
                    "(this is logged once)",
                    _singular(message.kind),
                    len(message.payload),
                    self.mqtt.max_payload,
                )
            return False
        with self._cond:
            self.counts.published.setdefault(message.kind, 0)
            # Fast path: nothing older is waiting, so hand it to paho here (publish() only queues
            # the packet for paho's thread) and spare the publisher thread a wake-up per frame.
            direct = (
                self.connection.connected
                and not self.connection.closing
                and len(self.delivery.buffer) == 0
                and self.delivery.sending == 0
                and not self.delivery.resending
                and len(self.delivery.outstanding) < WINDOW
            )
            if direct:
                self.delivery.sending += 1
            else:
                if n := self.delivery.buffer.push(message):
                    self._note_drops(n)
                self._cond.notify()
        if direct and not self._send(message, from_buffer=True):
            with self._cond:
                self.delivery.sending -= 1
                if n := self.delivery.buffer.push_front([message]):
                    self._note_drops(n)
                self._cond.notify()
        return True

    def set_state(self, topic: str, payload: bytes, qos: int, retain: bool = True) -> None:
        """The latest value of ``topic``: sent when connected, and again after every reconnect."""
        with self._cond:
            self.states.latest[topic] = Message(topic, payload, qos, retain, kind="")
            self.states.due[topic] = None
            self._cond.notify()

    def close(self, last: Callable[[], Sequence[Message]] = tuple) -> int:
        """Send what can be sent within ``shutdown_timeout``, then ``last()`` and the will's message
        (a clean disconnect does not fire the will), then disconnect.

        Whatever is still unsent at the deadline is counted as dropped and logged; returns that number.
        """
        client = self._client
        if client is None:
            return 0
        deadline = self.clock() + self.shutdown_timeout
        with self._cond:
            self.connection.closing = True
            self._cond.wait_for(
                lambda: not self.connection.connected or self.delivery.depth() == 0,
                timeout=max(0.0, deadline - self.clock()),
            )
            self.connection.stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(0.1, deadline - self.clock()))
        if self.connection.connected:
            for message in last():
                self._send(message)
            will = self.will
            info = client.publish(will.topic, will.payload, qos=will.qos, retain=will.retain)
            if will.qos > 0:
                info.wait_for_publish(timeout=max(0.1, deadline - self.clock()))
            with self._cond:
                self._cond.wait_for(
                    lambda: not self.delivery.counted_outstanding(), timeout=max(0.0, deadline - self.clock())
                )
        with self._cond:
            left = self.delivery.depth()
            self.counts.dropped_shutdown += left
        if left:
            log.warning("mqtt: %s could not be sent before shutdown (counted as dropped)", counted(left, "message"))
        client.disconnect()
        client.loop_stop()
        self._client = None
        return left

    def counters(self) -> dict[str, int | float]:
        """The transport's figures (all numbers): ``published`` counts poses; other kinds ``published_<kind>``."""
        with self._cond:
            figures: dict[str, int | float] = {
                "connected": int(self.connection.connected),
                "queue_depth": self.delivery.depth(),
                "buffer_bytes": self.delivery.buffer.nbytes,
                "published": self.counts.published[POSES],
                "dropped": self.dropped,
                "dropped_buffer_full": self.delivery.buffer.dropped,
                "dropped_oversize": self.counts.dropped_oversize,
                "dropped_shutdown": self.counts.dropped_shutdown,
                "reconnects": self.counts.reconnects,
                "connect_failures": self.counts.connect_failures,
            }
            figures.update({f"published_{k}": n for k, n in self.counts.published.items() if k != POSES})
            return figures

    # -- the publisher thread ----------------------------------------------------------------------

    def _publisher(self) -> None:
        interval = self.schedule.interval
        while True:
            with self._cond:
                while True:
                    if self.connection.stop:
                        return
                    now = self.clock()
                    periodic_due = interval > 0 and now >= self.schedule.next_periodic
                    room = WINDOW - len(self.delivery.outstanding) - self.delivery.sending
                    sendable = (
                        self.connection.connected
                        and len(self.delivery.buffer) > 0
                        and room > 0
                        and not self.delivery.resending
                    )
                    states_due = self.connection.connected and bool(self.states.due)
                    if sendable or periodic_due or states_due:
                        break
                    self._cond.wait(max(0.0, self.schedule.next_periodic - now) if interval > 0 else None)
                batch = self.delivery.buffer.pop_many(room) if sendable else []
                self.delivery.sending += len(batch)
                states = [self.states.latest[t] for t in self.states.due] if states_due else []
                if states_due:
                    self.states.due.clear()
                if self.delivery.dropping and len(self.delivery.buffer) == 0:
                    self.delivery.dropping = False
                    dropped = self.delivery.buffer.dropped - self.delivery.dropped_at_drop_start
                    log.info(
                        "mqtt: the buffer has room again; %s dropped while it was full",
                        counted(dropped, "message was", "messages were"),
                    )
            if periodic_due:
                self.schedule.next_periodic = max(self.schedule.next_periodic + interval, now)
                if self.connection.connected and self.schedule.periodic is not None:
                    self._send(self.schedule.periodic())
            for state in states:
                self._send(state)
            for i, message in enumerate(batch):
                if not self._send(message, from_buffer=True):
                    with self._cond:  # connection gone: put this and the rest back, oldest first
                        self.delivery.sending -= len(batch) - i
                        if n := self.delivery.buffer.push_front(batch[i:]):
                            self._note_drops(n)
                    break

    def _send(self, message: Message, from_buffer: bool = False) -> bool:
        """Hand one message to paho and track it until acknowledged. False when not accepted."""
        client = self._client
        if client is None:
            return False
        topic, properties = self._on_the_wire(message)
        info = client.publish(topic, message.payload, qos=message.qos, retain=message.retain, properties=properties)
        # QoS>=1 messages are kept by paho even without a connection (sent after reconnecting).
        accepted = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
            message.qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        )
        with self._cond:
            if accepted:
                if info.mid in self.delivery.early_acks:
                    self.delivery.early_acks.discard(info.mid)
                    self._acknowledged(message)
                else:
                    self.delivery.outstanding[info.mid] = message
                if from_buffer:
                    self.delivery.sending -= 1
        return accepted

    def _on_the_wire(self, message: Message) -> tuple[str, Properties | None]:
        """The topic and MQTT 5 properties to publish ``message`` with (3.1.1: its topic, none).

        A pose message names its topic once per connection with ``POSES_ALIAS``, then sends an
        empty topic and the alias alone (the broker, not the subscriber, resolves it).
        """
        if not self.aliases.v5:
            return message.topic, None
        properties = Properties(PacketTypes.PUBLISH)
        if message.expiry > 0:
            properties.MessageExpiryInterval = message.expiry
        if message.content_type:
            properties.ContentType = message.content_type
        if message.schema:
            properties.UserProperty = ("schema", message.schema)
        topic = message.topic
        if message.kind == POSES and self.mqtt.topic_alias and self.aliases.maximum >= POSES_ALIAS:
            properties.TopicAlias = POSES_ALIAS
            if self.aliases.topic == topic:
                topic = ""
            else:
                self.aliases.topic = topic
        return topic, properties

    def _forget_aliases(self, client: paho.Client) -> None:
        """Start a new connection's aliases: a broker knows an alias only on the connection it was set on.

        paho resends its unacknowledged messages as they were sent, empty topic included, which a
        broker (perhaps restarted) would refuse; so they are taken back from paho and the counted
        ones put at the head of the buffer, in order, with their full topic (status messages are
        announced again anyway).
        """
        self.aliases.topic = None
        if not self.aliases.v5 or not self.mqtt.topic_alias:
            return
        dropped = {m.mid for m in client.drop_out_messages()}
        with self._cond:
            taken = [self.delivery.outstanding.pop(mid) for mid in list(self.delivery.outstanding) if mid in dropped]
            back = [m for m in taken if m.kind]
            if back and (n := self.delivery.buffer.push_front(back)):
                self._note_drops(n)

    # -- paho callbacks (paho's network thread) ----------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            text = f"{self.mqtt.host}:{self.mqtt.port} refused the connection: {describe_refusal(reason)}"
            with self._cond:
                self.counts.connect_failures += 1
                self.connection.trouble = text
                self.connection.refusal_said = True  # paho closes the socket next: that disconnect is this failure
            self._log_failure(text, None)  # the wait is drawn when paho reports the disconnect that follows
            return
        self.aliases.maximum = int(getattr(properties, "TopicAliasMaximum", 0) or 0) if self.aliases.v5 else 0
        self._forget_aliases(client)
        with self._cond:
            self.subscriptions.pending.clear()
            self.subscriptions.refused_here = False
            self.subscriptions.listening = not self.subscriptions.watches
        self._subscribe(client, [w for w in self.subscriptions.watches if w.first])
        for message in self.schedule.announce():  # status first, so a subscriber can read what follows
            self._send(message)
        self._subscribe(client, [w for w in self.subscriptions.watches if not w.first])
        now = self.clock()
        with self._cond:
            self.connection.connected = True
            self.connection.connected_mono = now
            self.connection.trouble = None
            # paho resends its unacknowledged QoS>=1 messages right after this callback; hold the
            # buffer back until they are acknowledged so messages arrive in order.
            self.delivery.resending = {mid for mid, m in self.delivery.outstanding.items() if m.qos > 0}
            self.connection.attempt = 0
            self.connection.last_failure = ""
            self.states.due = dict.fromkeys(self.states.latest)  # the broker may have lost them (restarted)
            waiting = len(self.delivery.buffer)
            if self.connection.ever_connected:
                self.counts.reconnects += 1
            reconnect, self.connection.ever_connected = self.connection.ever_connected, True
            offline_s = (
                now - self.connection.disconnected_mono if self.connection.disconnected_mono is not None else 0.0
            )
            self._cond.notify_all()
        if reconnect:
            log.info(
                "mqtt: reconnected to %s:%d after %.1f s; sending %s",
                self.mqtt.host,
                self.mqtt.port,
                offline_s,
                counted(waiting, "buffered message"),
            )
        else:
            log.info("mqtt: connected to %s:%d", self.mqtt.host, self.mqtt.port)

    def _subscribe(self, client: paho.Client, watches: list[Watch]) -> None:
        """Subscribe to each watch's filter, its mid kept until the broker grants it (on paho's thread)."""
        for topic_filter in (w.topic_filter for w in watches):
            # The SUBACK is read by this same network thread after this callback: the mid is known first.
            # MQTT 5: Retain As Published, so a message published retained is known as such (watch()).
            if self.aliases.v5:
                result, mid = client.subscribe(topic_filter, options=SubscribeOptions(qos=1, retainAsPublished=True))
            else:
                result, mid = client.subscribe(topic_filter, qos=1)
            if result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                with self._cond:
                    self.subscriptions.pending[mid] = topic_filter

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError` block: the exception is still current.
        exc = sys.exc_info()[1]
        text = describe_connect_error(exc, self.mqtt.host, self.mqtt.port)
        with self._cond:
            self.counts.connect_failures += 1
            # A broker that is away is an outage the buffer covers; a TLS refusal is a setting to fix.
            self.connection.trouble = text if isinstance(exc, ssl.SSLError) else None
        self._log_failure(text, self._schedule_retry(client))

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        with self._cond:
            topic_filter = self.subscriptions.pending.pop(mid, None)
            refused = [r for r in reasons if r.is_failure]
            if refused:
                self.counts.subscriptions_refused += 1
                self.subscriptions.refused_here = True  # never listening on this connection
            self.subscriptions.listening = not self.subscriptions.pending and not self.subscriptions.refused_here
        if refused and topic_filter is not None:
            # An ACL that lets edgepose publish but not subscribe: its commands would never arrive.
            log.warning(
                "mqtt: %s:%d refused the subscription to %s (%s; does the broker's ACL let this "
                "client subscribe to it?): messages on it will not reach edgepose",
                self.mqtt.host,
                self.mqtt.port,
                topic_filter,
                refused[0],
            )

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        now = self.clock()
        with self._cond:
            was_connected, self.connection.connected = self.connection.connected, False
            self.subscriptions.listening = False
            said, self.connection.refusal_said = self.connection.refusal_said, False
            # Closed before any CONNACK (the TCP connection was made): the peer is no working broker.
            early = None if was_connected or said or self.connection.stop else self._before_connack(reason)
            if early is not None:
                self.counts.connect_failures += 1
                self.connection.trouble = early if reason.value == PROTOCOL_ERROR else None  # not MQTT: a port to fix
            if was_connected:
                self.connection.disconnected_mono = now
                self.connection.short_run = (
                    self.connection.short_run + 1 if now - self.connection.connected_mono < SHORT_S else 0
                )
                if not self.connection.short_run:  # that one lasted: whatever closed the earlier ones is over
                    self.connection.taken_over = None
            # Mosquitto closes the older connection of a client id without a reason, in 3.1.1 and 5 alike.
            taken_over = self.connection.short_run >= TAKEN_OVER_AFTER
            first_word = taken_over and self.connection.taken_over is None
            if first_word:
                self.connection.taken_over = (
                    f"the connection to {self.mqtt.host}:{self.mqtt.port} keeps being closed soon "
                    f"after it opens ({reason}): is another client connecting as "
                    f"{self.client_id!r} (a second device with this device_id, e.g. from a copied "
                    "SD card)? Give one of them its own device_id or mqtt.client_id"
                )
            # QoS 0 messages paho had not written yet are discarded on reconnect: take them back.
            unsent = [mid for mid, m in self.delivery.outstanding.items() if m.qos == 0]
            back = [m for m in (self.delivery.outstanding.pop(mid) for mid in unsent) if m.kind]
            if back and (n := self.delivery.buffer.push_front(back)):
                self._note_drops(n)
            stopping = self.connection.stop
            self._cond.notify_all()
        if was_connected and not stopping and first_word:
            log.warning(
                "mqtt: %s; buffering and retrying meanwhile (connection losses are now logged at debug "
                "level until a connection lasts)",
                self.connection.taken_over,
            )
        elif was_connected and not stopping and taken_over:
            log.debug("mqtt: lost the connection to %s:%d again (%s)", self.mqtt.host, self.mqtt.port, reason)
        elif was_connected and not stopping:
            log.warning(
                "mqtt: lost the connection to %s:%d (%s); buffering up to %d messages / %d bytes, retrying",
                self.mqtt.host,
                self.mqtt.port,
                reason,
                self.delivery.buffer.max_messages,
                self.delivery.buffer.max_bytes,
            )
        if not stopping:
            delay = self._schedule_retry(client)
            if early is not None:
                self._log_failure(early, delay)

    def _before_connack(self, reason: Any) -> str:
        m = self.mqtt
        return describe_before_connack(reason.value, str(reason), m.host, m.port, m.protocol, m.keepalive)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._cond:
            message = self.delivery.outstanding.pop(mid, None)
            self.delivery.resending.discard(mid)
            if message is None:
                self.delivery.early_acks.add(mid)
            else:
                self._acknowledged(message)
            if (
                len(self.delivery.buffer) or self.connection.closing
            ):  # someone may be waiting for room or for the last ack
                self._cond.notify_all()

    # -- helpers -----------------------------------------------------------------------------------

    def _acknowledged(self, message: Message) -> None:
        if message.kind:
            self.counts.published[message.kind] = self.counts.published.get(message.kind, 0) + 1

    def _note_drops(self, n: int) -> None:
        """Called with the lock held after the buffer evicted ``n`` messages: log the first of a run only."""
        if not self.delivery.dropping:
            self.delivery.dropping = True
            self.delivery.dropped_at_drop_start = self.delivery.buffer.dropped - n
            log.warning(
                "mqtt: the buffer is full (%d messages / %d bytes): dropping the oldest, counting each",
                self.delivery.buffer.max_messages,
                self.delivery.buffer.max_bytes,
            )

    def _log_failure(self, text: str, delay: float | None) -> None:
        """One warning per kind of failure; repeats of the same one go to debug. ``delay``: the wait
        before the next attempt, when it is known here."""
        wait = "" if delay is None else f"; next attempt in {delay:.2f} s"
        if text != self.connection.last_failure:
            self.connection.last_failure = text
            log.warning("mqtt: %s; retrying with backoff up to %g s%s", text, self.mqtt.reconnect_max, wait)
        else:
            log.debug("mqtt: %s (again%s)", text, wait)

    def _schedule_retry(self, client: paho.Client) -> float:
        """Jittered backoff for paho's next reconnect: paho's own doubles without jitter, so we pin
        its min and max to our delay before each wait (paho calls back just before waiting).
        Returns the delay (seconds)."""
        with self._cond:
            attempt = self.connection.attempt
            self.connection.attempt += 1
        delay = self.backoff.delay(attempt, jitter=self.rng.random())
        client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]
        return delay


def _singular(kind: str) -> str:
    """``poses`` -> ``pose``: how a log line names one message of a kind."""
    return kind[:-1] if kind.endswith("s") else kind
