"""A bounded ring buffer of messages waiting for the broker: full means the OLDEST go.

paho's own limit (``max_queued_messages_set``) refuses the newest message when full
(paho.mqtt.python issue 856). For live poses the newest frame is the valuable one, so unsent
messages wait here instead, bounded both by count and by bytes, and every eviction is counted.

Not thread-safe by itself: the transport (:mod:`edgepose.mqtt.transport`) guards it with its lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish. ``kind`` names what is counted (``poses``, ``events``); ``""`` marks a
    status message (availability, meta, stats, retained states), which is not counted or buffered.

    ``expiry`` (s, 0: none), ``content_type`` and ``schema`` are sent as MQTT 5 properties (message
    expiry interval, content type, user property ``schema``) and ignored over MQTT 3.1.1."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    kind: str = "poses"
    expiry: int = 0
    content_type: str = ""
    schema: str = ""


class RingBuffer:
    """FIFO of messages holding at most ``max_messages`` and ``max_bytes`` of payload."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError(f"ring buffer limits must be positive, got {max_messages} messages, {max_bytes} bytes")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[Message] = deque()
        self.nbytes = 0  # payload bytes held
        self.dropped = 0  # messages evicted or refused since creation

    def __len__(self) -> int:
        return len(self._items)

    def push(self, message: Message) -> int:
        """Append ``message``, evicting the oldest to make room. Returns how many were dropped.

        A message larger than ``max_bytes`` on its own can never fit: it is the one dropped.
        """
        if len(message.payload) > self.max_bytes:
            self.dropped += 1
            return 1
        self._items.append(message)
        self.nbytes += len(message.payload)
        return self._trim()

    def push_front(self, messages: Iterable[Message]) -> int:
        """Put messages that were taken but not sent back at the head, in their original order.

        They are older than anything already held, so when over the limits they are the ones dropped.
        """
        for message in reversed(list(messages)):
            self._items.appendleft(message)
            self.nbytes += len(message.payload)
        return self._trim()

    def pop(self) -> Message | None:
        """The oldest message, or None when empty."""
        if not self._items:
            return None
        message = self._items.popleft()
        self.nbytes -= len(message.payload)
        return message

    def pop_many(self, n: int) -> list[Message]:
        """Up to ``n`` of the oldest messages, oldest first."""
        out = []
        while len(out) < n and self._items:
            message = self._items.popleft()
            self.nbytes -= len(message.payload)
            out.append(message)
        return out

    def _trim(self) -> int:
        dropped = 0
        while self._items and (len(self._items) > self.max_messages or self.nbytes > self.max_bytes):
            self.nbytes -= len(self._items.popleft().payload)
            dropped += 1
        self.dropped += dropped
        return dropped
