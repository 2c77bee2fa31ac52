"""Counting repetitions (squats, push-ups, curls) from a joint angle, per track, with hysteresis.

A repetition starts at rest on the ``high`` side (knee straight for a squat), goes at or below
``low`` (the bottom of the squat) and comes back at or above ``high``: one count at that return.
Between the two thresholds nothing changes, so an angle jittering by less than ``high - low``
around either threshold counts nothing extra (the hysteresis). The first count needs the track to
have been seen at rest first: a track that appears mid-squat is not counted a half repetition.

The angle comes from named joint angles (``left_knee``, ``right_knee``, ... as in
:data:`edgepose.analysis.joints.JOINTS`), combined per frame by ``mean``, ``min`` or ``max``
of those present; a frame where none is present changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgepose.analysis.behaviours.events import Happening
from edgepose.analysis.behaviours.rules import RepRule
from edgepose.kernels.behaviour import COMBINE, rep_values

RuleValues = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class _Count:
    count: int = 0
    phase: Literal["unknown", "up", "down"] = "unknown"


class RepCounter:
    """Counts of every rule for every track."""

    def __init__(self, rules: Iterable[RepRule]) -> None:
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names repeat: {names}")
        self._state: dict[tuple[int, str], _Count] = {}
        self._tables: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    def update(self, ts: float, track: int, angles: Mapping[str, float | None]) -> list[Happening]:
        """Feed one track's angles of one frame; returns a ``rep`` event per repetition completed."""
        events: list[Happening] = []
        for rule in self.rules:
            value = rule.value(angles)
            if value is not None:
                self._advance(ts, track, rule, value, events)
        return events

    def update_all(
        self,
        ts: float,
        tracks: Sequence[int],
        angles: np.ndarray,
        names: Sequence[str],
        values: RuleValues | None = None,
    ) -> list[Happening]:
        """:meth:`update` for every track of a frame from a ``(P, A)`` array of angles (NaN: unknown)
        whose columns are ``names``: every rule's value for all tracks in one call, no dict per track.

        ``values``: the ``rep_values`` kernel of :mod:`edgepose.kernels.behaviour` (its NumPy twin
        when None)."""
        events: list[Happening] = []
        columns, combine = self._columns(tuple(names))
        got = (values or rep_values)(np.ascontiguousarray(angles, np.float64), columns, combine)
        for rule, column in zip(self.rules, got.T.tolist(), strict=True):  # rule by rule, as update_all always went
            for track, v in zip(tracks, column, strict=True):
                if v == v:  # NaN: none of the rule's angles known
                    self._advance(ts, track, rule, v, events)
        return events

    def _columns(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Each rule's angle columns in ``names`` (padded with -1) and its combine code, kept per ``names``."""
        got = self._tables.get(names)
        if got is None:
            column = {n: i for i, n in enumerate(names)}
            width = max(len(r.angles) for r in self.rules) if self.rules else 1
            cols = np.full((len(self.rules), width), -1, np.int64)
            for i, r in enumerate(self.rules):
                cols[i, : len(r.angles)] = [column[a] for a in r.angles]
            got = self._tables[names] = (cols, np.array([COMBINE[r.combine] for r in self.rules], np.int64))
        return got

    def _advance(self, ts: float, track: int, rule: RepRule, value: float, events: list[Happening]) -> None:
        state = self._state.setdefault((track, rule.name), _Count())
        if value >= rule.high:
            if state.phase == "down":
                state.count += 1
                data = {"exercise": rule.name, "count": state.count, "angle": round(value, 1)}
                events.append(Happening("rep", track, ts, data))
            state.phase = "up"
        elif value <= rule.low and state.phase == "up":
            state.phase = "down"

    def count(self, track: int, rule: str) -> int:
        state = self._state.get((track, rule))
        return state.count if state is not None else 0

    def counts(self, track: int) -> dict[str, int]:
        """Every rule's count for a track (0 for rules it has not counted yet): the document's ``reps``."""
        get = self._state.get  # once a frame per track: no count() call per rule
        return {r.name: s.count if (s := get((track, r.name))) is not None else 0 for r in self.rules}

    def reset(self, track: int | None = None) -> None:
        """Start counting again: one track (it ended), or every track (the reset command)."""
        if track is None:
            self._state.clear()
            return
        for key in [k for k in self._state if k[0] == track]:
            del self._state[key]
