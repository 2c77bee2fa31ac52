"""Capped exponential backoff: the one schedule for everything that retries.

Used by a live source that reopens (:mod:`edgepose.sources.retry`), the accelerator supervisor
that rebuilds a failed engine (:mod:`edgepose.inference.supervisor`) and the MQTT transport's
reconnects (:mod:`edgepose.mqtt.transport`, with jitter).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Wait ``initial * factor**attempt`` seconds before retry ``attempt`` (0 = the first), at most ``maximum``."""

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (self.initial >= 0 and self.maximum >= 0 and self.factor >= 1):
            raise ValueError(f"backoff needs initial, maximum >= 0 and factor >= 1, got {self}")

    def delay(self, attempt: int, jitter: float | None = None) -> float:
        """Seconds to wait before retry ``attempt``.

        ``jitter`` in [0, 1) ("equal jitter"): the capped delay times a factor in [0.5, 1), never
        below ``initial``. Jitter keeps a fleet of devices from retrying in lock-step (a broker
        restart); a local retry (a camera, the accelerator) needs none.
        """
        cap = min(self.maximum, self.initial * self.factor ** min(max(attempt, 0), 64))
        if jitter is None:
            return cap
        return min(self.maximum, max(self.initial, cap * (0.5 + 0.5 * jitter)))
