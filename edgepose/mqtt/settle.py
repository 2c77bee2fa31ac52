"""The hold on retained state topics (counts, zone states) that Home Assistant records.

A person count flickers from frame to frame (3-2-3 on a crowd); Home Assistant's recorder writes a
row for each change, about 1.3 million a day per camera at 15 fps. :class:`Settle` lets a topic
change at most once per ``hold`` seconds: a change within the hold is kept and published (its latest
value) on the first :meth:`due` after the hold ends. Pose documents are not held.

Times are monotonic seconds from the caller's clock. Thread-safe: the pipeline threads offer, a
reload drops.
"""

from __future__ import annotations

import threading


class Settle:
    def __init__(self, hold: float) -> None:
        self.hold = hold
        self._lock = threading.Lock()
        self._sent: dict[str, tuple[float, bytes]] = {}  # topic -> (when, payload) last published
        self._held: dict[str, bytes] = {}  # topic -> the latest payload not yet published

    def offer(self, topic: str, payload: bytes, now: float) -> bool:
        """Whether to publish ``payload`` on ``topic`` now; if not, it is held until :meth:`due`
        (a later offer replaces it; an offer of what was last published cancels it)."""
        with self._lock:
            sent = self._sent.get(topic)
            if sent is not None and sent[1] == payload:
                self._held.pop(topic, None)
                return False
            if sent is None or self.hold <= 0 or now - sent[0] >= self.hold:
                self._sent[topic] = (now, payload)
                self._held.pop(topic, None)
                return True
            self._held[topic] = payload
            return False

    def due(self, now: float) -> list[tuple[str, bytes]]:
        """The held values whose hold has ended, marked published: publish each now."""
        with self._lock:
            out = [(t, p) for t, p in self._held.items() if now - self._sent[t][0] >= self.hold]
            for topic, payload in out:
                self._sent[topic] = (now, payload)
                del self._held[topic]
            return out

    def sent(self, topic: str, payload: bytes, now: float) -> None:
        """``payload`` was published on ``topic`` outside the hold (a reload's clear, a quiet camera): a
        held value is dropped and the hold starts again."""
        with self._lock:
            self._sent[topic] = (now, payload)
            self._held.pop(topic, None)

    def keep_only(self, topics: set[str]) -> None:
        """Forget every topic not in ``topics`` (a reload removed its zone or camera): a held value of a
        removed zone must never be published after its state was cleared."""
        with self._lock:
            for table in (self._sent, self._held):
                for topic in [t for t in table if t not in topics]:
                    del table[topic]
