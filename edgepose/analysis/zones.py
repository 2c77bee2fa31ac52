"""Zones: named polygons and who is in them, debounced on the capture clock.

A zone is a polygon in normalized image coordinates (0..1, origin top-left), so it stays put when
the camera's resolution changes. Each pose gives one anchor point (:mod:`~edgepose.analysis.anchors`);
a pose is in the zone when its anchor is (edges count as inside).

Debounce, per track: a track enters once its anchor has been inside for ``enter_after`` seconds
without a break, and leaves once it has been outside, or the track missing, for ``leave_after``
seconds. Time is the frame's capture time on the monotonic clock, passed in by the caller, so a
video read faster than real time debounces on video time and tests drive the clock directly.

Poses without track ids (photos, ``tracking.tracker: none``) cannot enter or leave: they are only
counted, and the count of them changes after the same ``enter_after``/``leave_after``. With
``debounce=False`` (unrelated images, where the previous frame says nothing about this one) every
frame's count stands at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edgepose.analysis.anchors import AnchorRule
from edgepose.analysis.events import Event, ZoneState, zone_count, zone_enter, zone_leave
from edgepose.analysis.polygon import points_in_polygon


@dataclass(frozen=True)
class Zone:
    """A named area. polygon: ``(V, 2)`` float64 normalized (x, y); camera: '' for every camera."""

    name: str
    polygon: np.ndarray
    anchor: AnchorRule = "feet"
    enter_after: float = 0.0
    leave_after: float = 0.0
    camera: str = ""


@dataclass(slots=True)
class _Track:
    inside: bool = False  # the debounced state
    since: float | None = None  # when the raw state began to differ from ``inside``; None while they agree


@dataclass
class ZoneTracker:
    """One zone's state machine; feed it every frame of one camera in capture order."""

    zone: Zone
    _tracks: dict[int, _Track] = field(default_factory=dict)
    _untracked: int = 0  # the debounced count of poses without ids
    _untracked_since: float | None = None
    _untracked_rising: bool = False
    _count: int = 0
    state: ZoneState | None = None

    def inside(self, anchors: np.ndarray) -> np.ndarray:
        """``(P,)`` bool for ``(P, 2)`` normalized anchors."""
        return points_in_polygon(anchors, self.zone.polygon)

    def update(
        self,
        mono: float,
        ts: float,
        frame: int,
        ids: Sequence[int | None],
        anchors: np.ndarray,
        debounce: bool = True,
        inside: np.ndarray | None = None,
    ) -> list[Event]:
        """Fold one frame in: ``ids`` and ``(P, 2)`` normalized ``anchors`` of its poses, in the same order.

        ``mono`` drives the debounce (seconds, monotonic); ``ts`` (Unix seconds) and ``frame`` stamp
        events. ``inside``: ``(P,)`` whether each anchor is in the zone, when the caller tested
        several zones at once (:class:`~edgepose.analysis.polygon.PolygonSet`).
        """
        z = self.zone
        if inside is None:
            inside = self.inside(anchors) if len(ids) else np.zeros(0, bool)
        flags = inside.tolist()
        where: dict[int, int] = {}
        raw_untracked = 0
        for i, tid in enumerate(ids):
            if tid is None:
                raw_untracked += flags[i]
            elif flags[i]:
                where[tid] = i
        seen = set(ids)
        # Only tracks inside now, or inside or changing before, can change: the rest are settled outside.
        entered: list[int] = []
        left: list[int] = []
        moves: list[tuple[int, bool, float, np.ndarray | None]] = []
        for tid in sorted(self._tracks.keys() | where.keys()):
            track = self._tracks.get(tid) or _Track()
            raw = tid in where
            if raw == track.inside:
                track.since = None
            else:
                if track.since is None:
                    track.since = mono
                held = mono - track.since
                if not debounce or held >= (z.enter_after if raw else z.leave_after):
                    track.inside, track.since = raw, None
                    (entered if raw else left).append(tid)
                    i = where.get(tid, ids.index(tid) if tid in seen else None)
                    moves.append((tid, raw, held, anchors[i] if i is not None else None))
            if track.inside or track.since is not None:
                self._tracks[tid] = track
            else:
                self._tracks.pop(tid, None)  # outside and settled: forget it (ids are not reused soon)
        self._settle_untracked(int(raw_untracked), mono, debounce)
        in_ids = tuple(sorted(tid for tid, t in self._tracks.items() if t.inside))
        count = len(in_ids) + self._untracked
        events: list[Event] = []
        running = self._count
        for tid, raw, held, anchor in moves:  # each enter/leave carries the count right after it
            running += 1 if raw else -1
            if raw:
                events.append(zone_enter(z.name, ts, frame, tid, running, anchor, z.anchor, held))  # type: ignore[arg-type]
            else:
                events.append(zone_leave(z.name, ts, frame, tid, running, anchor, z.anchor, held))
        if count != self._count:
            events.append(zone_count(z.name, ts, frame, count, self._count, entered, left, self._untracked))
        if count != self._count or moves or self.state is None:
            self.state = ZoneState(z.name, count, in_ids, ts, frame)
        self._count = count
        return events

    def _settle_untracked(self, raw: int, mono: float, debounce: bool) -> None:
        if raw == self._untracked:
            self._untracked_since = None
            return
        rising = raw > self._untracked
        if self._untracked_since is None or rising != self._untracked_rising:
            self._untracked_since, self._untracked_rising = mono, rising
        hold = self.zone.enter_after if rising else self.zone.leave_after
        if not debounce or mono - self._untracked_since >= hold:
            self._untracked, self._untracked_since = raw, None
