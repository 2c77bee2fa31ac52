"""The state of :class:`~edgepose.mqtt.transport.MqttTransport`, grouped by what it is about.

Plain mutable records, no behaviour: every field is read and written under the transport's
condition lock (``MqttTransport._cond``), except where a field's comment says otherwise. The
transport's module doc states the delivery contract these serve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from edgepose.mqtt.buffer import Message, RingBuffer

POSES = "poses"  # the kind whose figures are the sink's headline counters (published, dropped)


@dataclass(frozen=True)
class Watch:
    """A subscription kept on every connection, and where its messages go (:meth:`MqttTransport.watch`)."""

    topic_filter: str
    on_message: Callable[[str, bytes], None]
    retained: bool = True
    on_retained: Callable[[str, bytes], None] | None = None
    first: bool = False  # subscribed before the connection's announcements


@dataclass
class Counters:
    """What ``counters()`` and ``/metrics`` report, each only ever increasing."""

    published: dict[str, int] = field(default_factory=lambda: {POSES: 0})  # per kind: acknowledged or written
    dropped_oversize: int = 0
    dropped_shutdown: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    subscriptions_refused: int = 0


@dataclass
class Connection:
    """The broker connection as the callbacks saw it, and why it is not working when it is not."""

    connected: bool = False
    connected_mono: float = 0.0  # when the latest CONNACK came (the transport's clock)
    disconnected_mono: float | None = None  # when the latest connection was lost
    ever_connected: bool = False
    short_run: int = 0  # connections in a row lost within SHORT_S
    taken_over: str | None = None  # why another client seems to connect as this one
    trouble: str | None = None  # the broker's refusal of the last attempt (a setting to fix)
    refusal_said: bool = False  # the CONNACK refused this attempt: its disconnect is no news
    attempt: int = 0  # failed attempts since the last connection (the backoff's exponent)
    last_failure: str = ""  # the latest failure logged at warning level (repeats go to debug)
    closing: bool = False  # close() began: waiting for the queue to drain
    stop: bool = False  # the publisher thread is to end


@dataclass
class Delivery:
    """Counted messages between ``publish()`` and the broker's acknowledgement."""

    buffer: RingBuffer
    outstanding: dict[int, Message] = field(default_factory=dict)  # mid -> handed to paho, not yet acknowledged
    early_acks: set[int] = field(default_factory=set)  # acknowledged before publish() returned its mid
    sending: int = 0  # taken from the buffer, being handed to paho
    resending: set[int] = field(default_factory=set)  # QoS>=1 mids paho resends after a reconnect
    dropping: bool = False  # the buffer is full and evicting (logged once per run of drops)
    dropped_at_drop_start: int = 0

    def counted_outstanding(self) -> int:
        return sum(1 for m in self.outstanding.values() if m.kind)

    def depth(self) -> int:
        """Counted messages not yet acknowledged: buffered, in paho's window, or being handed over."""
        return len(self.buffer) + self.counted_outstanding() + self.sending


@dataclass
class States:
    """Retained latest values (``set_state``): each topic's, and which are still to be sent, in order."""

    latest: dict[str, Message] = field(default_factory=dict)
    due: dict[str, None] = field(default_factory=dict)


@dataclass
class Subscriptions:
    """The watches, subscribed on every connection, and whether this connection's are all granted."""

    watches: list[Watch] = field(default_factory=list)
    pending: dict[int, str] = field(default_factory=dict)  # SUBSCRIBE mid -> topic filter, not yet granted
    refused_here: bool = False  # a subscription of this connection was refused
    listening: bool = False  # every watch's subscription granted on this connection


@dataclass
class Aliases:
    """MQTT 5 topic aliases on this connection (paho's network thread and the sending threads)."""

    v5: bool
    maximum: int = 0  # the broker's Topic Alias Maximum (CONNACK)
    topic: str | None = None  # the topic POSES_ALIAS stands for


@dataclass
class Schedule:
    """What the sink gave :meth:`MqttTransport.start`: sent first on each connection, and periodically."""

    announce: Callable[[], Sequence[Message]] = tuple
    periodic: Callable[[], Message] | None = None
    interval: float = 0.0
    next_periodic: float = 0.0
