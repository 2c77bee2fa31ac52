"""Fall detection: a state machine per track over its keypoints, driven by the frames' timestamps.

::

    upright --(hips drop >= drop x body height within window, torso lean >= falling_lean)--> falling
    falling --(lying for down_for seconds)--> down, emits ``fall``
    falling --(upright again, or not lying within settle seconds)--> upright (nothing emitted)
    down    --(upright for recover_for seconds)--> upright, emits ``recovered``

*Lying* is the torso leaning at least ``lying_lean`` from vertical **and** the whole body doing so:
the line from the feet (ankle centre, else knee centre) to the shoulder centre leans at least
``lying_lean`` too; where neither ankles nor knees are visible, the hip centre must instead be at
most ``lying_height`` x body height above the lowest visible keypoint (the floor). *Upright* is the
torso within ``upright_lean`` of vertical and the hips at least ``upright_height`` x body height
above the floor. The body's height is the visible keypoints' vertical extent before the drop (the
tallest sample of the window), so it is the standing height, not the lying one.

Why each guard: walking keeps the torso upright (no lean); sitting down drops the hips but keeps
the torso upright; bending to pick something up (and a deep squat) tips the torso but keeps the
shoulders above the feet (the feet-to-shoulders line stays near vertical: never lying); a person
leaving the frame loses their keypoints (no samples, so no state change) or their track. A fall
is the only one that drops, tips and ends with the whole body near horizontal, and stays there.

After a fall a track cannot fall again for ``cooldown`` seconds. Samples whose hips, shoulders or
extent are not visible are skipped; a gap of more than ``max_gap`` seconds forgets the history
(a fall must be seen happening). Excluded areas (a bed, a sofa) are a predicate on the hip
centre, in the keypoints' coordinates (source-frame pixels): no fall starts or fires there;
:func:`zone_exclusion` makes one from zones' polygons.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from edgepose.analysis.behaviours.events import Happening
from edgepose.analysis.behaviours.geometry import body_lean, body_measures, hip_centre, rows, torso_lean, visible_extent
from edgepose.analysis.behaviours.settings import FallSettings
from edgepose.analysis.polygon import PolygonSet

State = Literal["upright", "falling", "down"]
# Durations are compared this much early: frame times such as i / 15 s differ from whole seconds in the last bit.
SLACK = 1e-6
# Whether a point (x, y), in the keypoints' coordinates, is in an area where falls are not reported.
Excluded = Callable[[float, float], bool]


class Measure(NamedTuple):
    """What the state machine reads of one pose (pixels; y grows downwards). A tuple: built per
    person per frame, and a frozen dataclass costs several times more to make."""

    ts: float
    hip_x: float
    hip_y: float
    lean: float  # torso, degrees from vertical, 0..180
    body: float | None  # feet -> shoulders line, degrees from vertical; None without feet or knees
    bottom: float  # y of the lowest visible keypoint
    height: float  # vertical extent of the visible keypoints


def measure(keypoints: np.ndarray, ts: float, min_score: float) -> Measure | None:
    """The measurements of one ``(17, 3)`` pose, or None when hips, shoulders or the extent are not visible."""
    keypoints = rows(keypoints)
    hips = hip_centre(keypoints, min_score)
    lean = torso_lean(keypoints, min_score)
    extent = visible_extent(keypoints, min_score)
    if hips is None or lean is None or extent is None or extent[2] <= 0:
        return None
    return Measure(ts, hips[0], hips[1], lean, body_lean(keypoints, min_score), extent[1], extent[2])


def zone_exclusion(polygons: Sequence[np.ndarray], width: int, height: int) -> Excluded:
    """The ``excluded`` predicate for zones' polygons (normalized 0..1 coordinates, as the analysis
    section configures them) on a ``width`` x ``height`` frame: a point in or on any of them."""
    inside = PolygonSet(tuple(np.asarray(p, np.float64) for p in polygons))
    scale = np.array([float(width), float(height)])

    def excluded(x: float, y: float) -> bool:
        return bool(inside.contains(np.array([[x, y]]) / scale).any())

    return excluded


@dataclass
class _Track:
    state: State = "upright"
    history: deque[Measure] = field(default_factory=deque)
    since: float = 0.0  # when the state began
    height: float = 0.0  # the body's height while falling or down (standing height before the drop)
    lying_since: float | None = None
    upright_since: float | None = None
    last: float | None = None  # ts of the last usable sample
    last_fall: float | None = None
    drop: float = 0.0  # the drop that started the fall, as a fraction of the height


class FallDetector:
    """``fall`` and ``recovered`` events of every track, from its keypoints frame by frame."""

    def __init__(self, settings: FallSettings | None = None, excluded: Excluded | None = None) -> None:
        self.s = settings or FallSettings()
        self.excluded = excluded
        self._tracks: dict[int, _Track] = {}

    def state(self, track: int) -> State:
        t = self._tracks.get(track)
        return t.state if t is not None else "upright"

    def end(self, track: int) -> None:
        """The track ended: forget it (a person who left the frame mid-fall raises nothing)."""
        self._tracks.pop(track, None)

    def update(self, ts: float, track: int, keypoints: np.ndarray) -> list[Happening]:
        """Feed one track's ``(17, 3)`` keypoints (source-frame pixels) at ``ts`` seconds."""
        m = measure(keypoints, ts, self.s.min_keypoint_score)
        if m is None:
            return []
        return self.step(track, m)

    def update_all(
        self, ts: float, tracks: Sequence[int], keypoints: np.ndarray, measured: np.ndarray | None = None
    ) -> list[Happening]:
        """:meth:`update` for every tracked pose of a frame, ``(P, 17, 3)``, measured in one vectorized pass.

        ``measured``: the ``(6, P)`` measurements already taken (the behaviours' ``body_measures``
        kernel, :mod:`edgepose.kernels.behaviour`); taken here when None.
        """
        if len(tracks) == 0:
            return []
        if measured is None:
            b = body_measures(keypoints, self.s.min_keypoint_score)
            measured = np.stack([b.hip_x, b.hip_y, b.lean, b.body, b.bottom, b.height])
        events: list[Happening] = []
        for track, (hx, hy, lean, body, bottom, height) in zip(tracks, measured.T.tolist(), strict=True):
            # usable: hips, shoulders and an extent seen (NaN compares unequal to itself and not > 0)
            if hy == hy and lean == lean and height > 0:
                events += self.step(track, Measure(ts, hx, hy, lean, None if body != body else body, bottom, height))
        return events

    def step(self, track: int, m: Measure) -> list[Happening]:
        """:meth:`update` on measurements already taken."""
        s = self.s
        t = self._tracks.setdefault(track, _Track())
        if t.last is not None and m.ts - t.last > s.max_gap:
            t.history.clear()
            t.lying_since = t.upright_since = None
            if t.state == "falling":  # the fall was not seen to its end
                t.state = "upright"
        t.last = m.ts
        t.history.append(m)
        while t.history and m.ts - t.history[0].ts > s.window:
            t.history.popleft()

        if t.state == "upright":
            self._upright(t, m)
            if t.state == "upright":
                return []
        if t.state == "falling":  # also the sample that started the fall: it may be lying already
            return self._falling(track, t, m)
        return self._down(track, t, m)

    def _is_excluded(self, m: Measure) -> bool:
        return self.excluded is not None and bool(self.excluded(m.hip_x, m.hip_y))

    def _upright(self, t: _Track, m: Measure) -> None:
        s = self.s
        if m.lean < s.falling_lean:
            return
        if t.last_fall is not None and m.ts - t.last_fall < s.cooldown:
            return
        drop = max((m.hip_y - h.hip_y) / h.height for h in t.history)
        if drop < s.drop or self._is_excluded(m):
            return
        t.state, t.since, t.drop = "falling", m.ts, drop
        t.height = max(h.height for h in t.history)
        t.lying_since = None

    def _lying(self, t: _Track, m: Measure) -> bool:
        if m.lean < self.s.lying_lean:
            return False
        if m.body is not None:
            return m.body >= self.s.lying_lean
        return m.bottom - m.hip_y <= self.s.lying_height * t.height

    def _upright_again(self, t: _Track, m: Measure) -> bool:
        return m.lean <= self.s.upright_lean and m.bottom - m.hip_y >= self.s.upright_height * t.height

    def _falling(self, track: int, t: _Track, m: Measure) -> list[Happening]:
        s = self.s
        if self._lying(t, m):
            if t.lying_since is None:
                t.lying_since = m.ts
            if m.ts - t.lying_since < s.down_for - SLACK:
                return []
            if self._is_excluded(m):  # came to rest on the sofa: not a fall
                self._back_upright(t, m)
                return []
            t.state, t.since, t.last_fall = "down", m.ts, m.ts
            t.upright_since = None
            data = {
                "drop": round(t.drop, 3),
                "lean": round(m.lean, 1),
                "x": round(m.hip_x, 1),
                "y": round(m.hip_y, 1),
                "lying_for": round(m.ts - t.lying_since, 3),
            }
            return [Happening("fall", track, m.ts, data)]
        t.lying_since = None
        if self._upright_again(t, m) or m.ts - t.since > s.settle:
            self._back_upright(t, m)
        return []

    def _down(self, track: int, t: _Track, m: Measure) -> list[Happening]:
        if not self._upright_again(t, m):
            t.upright_since = None
            return []
        if t.upright_since is None:
            t.upright_since = m.ts
        if m.ts - t.upright_since < self.s.recover_for - SLACK:
            return []
        down_for = m.ts - t.since
        self._back_upright(t, m)
        return [Happening("recovered", track, m.ts, {"down_for": round(down_for, 3)})]

    def _back_upright(self, t: _Track, m: Measure) -> None:
        t.state, t.since = "upright", m.ts
        t.lying_since = t.upright_since = None
        t.history.clear()
        t.history.append(m)
