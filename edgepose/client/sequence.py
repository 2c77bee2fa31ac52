"""Per-stream sequence checks: what a subscriber missed, from the ``frame`` counter.

A stream is one device's camera. The daemon numbers the frames of its source from 0, so a frame
number that jumps ahead means pose messages were not received: lost (QoS 0, a full queue, an
expired message) or never published (``mqtt.only_with_poses``, ``mqtt.max_rate`` skip frames on
purpose, and a gap is then expected). A frame number seen again is a duplicate (QoS 1 is at least
once); one that goes back is a new run of the daemon (its counter starts again from 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Gap:
    """Frames ``after + 1`` up to ``before - 1`` of one stream were not received."""

    device: str
    camera: str
    after: int  # the last frame received before the gap
    before: int  # the first frame received after it

    @property
    def missing(self) -> int:
        return self.before - self.after - 1


@dataclass
class StreamSummary:
    """What one stream delivered: counts, frame range and time range (document ``ts``, Unix s)."""

    device: str
    camera: str
    received: int = 0
    missing: int = 0  # frames skipped over by gaps
    gaps: int = 0
    duplicates: int = 0  # a frame number seen again (QoS 1 redelivery)
    restarts: int = 0  # the counter went back: the daemon started again
    first_frame: int = -1
    last_frame: int = -1
    first_ts: float | None = None
    last_ts: float | None = None

    @property
    def rate(self) -> float:
        """Documents per second of capture time (``ts``), 0 with fewer than two."""
        if self.first_ts is None or self.last_ts is None or self.last_ts <= self.first_ts:
            return 0.0
        return (self.received - 1) / (self.last_ts - self.first_ts)

    @property
    def loss(self) -> float:
        """Share of the frames in the received range that did not arrive."""
        total = self.received - self.duplicates + self.missing
        return self.missing / total if total else 0.0


@dataclass
class SequenceTracker:
    """Folds ``(device, camera, frame, ts)`` observations into gaps and per-stream summaries.

    A frame number at or below the last one is a duplicate when the same frame with the same
    ``ts`` was seen lately, else a restart of the daemon (its counter starts again from 0).
    """

    window: int = 4096  # frames remembered per stream for telling duplicates from restarts
    streams: dict[tuple[str, str], StreamSummary] = field(default_factory=dict)
    _recent: dict[tuple[str, str], dict[int, float | None]] = field(default_factory=dict)

    def observe(self, device: str, camera: str, frame: int, ts: float | None = None) -> Gap | None:
        """Record one document; return the gap it closes, if any."""
        key = (device, camera)
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = StreamSummary(device, camera, first_frame=frame)
        recent = self._recent.setdefault(key, {})
        s.received += 1
        if ts is not None:
            s.first_ts = ts if s.first_ts is None else min(s.first_ts, ts)
            s.last_ts = ts if s.last_ts is None else max(s.last_ts, ts)
        gap = None
        if s.last_frame >= 0 and frame <= s.last_frame:
            if frame in recent and recent[frame] == ts:
                s.duplicates += 1  # a redelivery of one already counted
                return None
            s.restarts += 1
            recent.clear()
        elif s.last_frame >= 0 and frame > s.last_frame + 1:
            gap = Gap(device, camera, s.last_frame, frame)
            s.gaps += 1
            s.missing += gap.missing
        s.last_frame = frame
        recent[frame] = ts
        if len(recent) > self.window:  # insertion order: the oldest frame goes first
            del recent[next(iter(recent))]
        return gap

    def summaries(self) -> list[StreamSummary]:
        return [self.streams[k] for k in sorted(self.streams)]
