"""``pose_match`` events: a track that holds a library pose for ``hold`` seconds.

Per track, the best library pose of each frame (from :func:`edgepose.analysis.behaviours.similarity.best_match`)
is fed in with the frame's timestamp. A hold starts when the score reaches ``threshold`` and goes on
while the same pose stays best and above ``threshold - release``; after ``hold`` seconds one event
fires. The next event for that track needs the hold to end first (the score drops below
``threshold - release``, another pose becomes best, or the track is not seen for ``max_gap``
seconds), so holding one pose for a minute is one event, not one a frame. The ``release`` margin
keeps a score hovering at the threshold from ending and restarting holds frame after frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edgepose.analysis.behaviours.events import Happening

SLACK = 1e-6  # frame times such as i / 15 s differ from whole seconds in the last bit


@dataclass
class _Hold:
    pose: str
    since: float  # ts the hold started
    last: float  # ts of the last sample
    fired: bool = False


@dataclass(frozen=True, slots=True)
class Sample:
    """One track's best match in one frame; ``pose`` is None when nothing matched (an empty library)."""

    track: int
    pose: str | None
    score: float


class PoseMatchHolds:
    """Hold and release of matches per track, driven by the timestamps it is given."""

    def __init__(self, threshold: float, hold: float, release: float = 0.05, max_gap: float = 1.0) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} is outside 0..1")
        if hold < 0 or release < 0 or max_gap <= 0:
            raise ValueError("hold and release must be >= 0 and max_gap > 0")
        self.threshold = threshold
        self.hold = hold
        self.keep = threshold - release  # a running hold lasts while the score stays at or above this
        self.max_gap = max_gap
        self._holds: dict[int, _Hold] = {}

    def update(self, ts: float, samples: Iterable[Sample]) -> list[Happening]:
        """Feed one frame's matches; returns the ``pose_match`` events that fire at ``ts``.

        A track missing from ``samples`` keeps its hold for up to ``max_gap`` seconds (a frame
        without a detection should not restart a hold); :meth:`end` forgets it at once.
        """
        events: list[Happening] = []
        for s in samples:
            h = self._holds.get(s.track)
            if h is not None and (ts - h.last > self.max_gap or s.pose != h.pose or s.score < self.keep):
                del self._holds[s.track]  # let go
                h = None
            if h is None:
                if s.pose is None or s.score < self.threshold:
                    continue
                h = self._holds[s.track] = _Hold(s.pose, ts, ts)
            h.last = ts
            if not h.fired and ts - h.since >= self.hold - SLACK:
                h.fired = True
                data = {"pose": s.pose, "score": round(float(s.score), 4), "held": round(ts - h.since, 3)}
                events.append(Happening("pose_match", s.track, ts, data))
        return events

    def holding(self, track: int) -> str | None:
        """The pose a track is holding (fired or not), or None."""
        h = self._holds.get(track)
        return h.pose if h is not None else None

    def end(self, track: int) -> None:
        """The track ended: forget its hold."""
        self._holds.pop(track, None)

    def prune(self, ts: float) -> None:
        """Forget holds not updated for more than ``max_gap`` seconds (ended tracks nobody reported)."""
        for track in [t for t, h in self._holds.items() if ts - h.last > self.max_gap]:
            del self._holds[track]
