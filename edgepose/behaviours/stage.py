"""All three behaviours over one frame's tracked poses: what the pipeline's stage will call.

One :meth:`Behaviours.step` per frame, after tracking and smoothing, with the frame's capture time
(seconds on the monotonic clock, as tracking uses): the best library match of every person (in
one vectorized pass), the fall state machine and the repetition counters of every tracked person,
and the events they raise. Poses without a track id (photos, ``tracking.tracker: none``) get their
match but no events, falls or counts: those need a person followed over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgepose.behaviours.events import Event
from edgepose.behaviours.falls import Excluded, FallDetector
from edgepose.behaviours.geometry import ANGLE_NAMES, joint_angles_all
from edgepose.behaviours.library import Loaded
from edgepose.behaviours.matching import PoseMatchHolds, Sample
from edgepose.behaviours.reps import RepCounter
from edgepose.behaviours.settings import BehavioursSettings
from edgepose.behaviours.similarity import best_match, normalize, with_mirrors
from edgepose.pose import Pose


@dataclass(frozen=True, slots=True)
class FrameBehaviours:
    """One frame's results, per pose in the frame's order, and its events.

    match: per pose ``{"pose": name, "score": s}`` (the document's optional ``match``), None when
        matching is off or the library is empty.
    reps: per pose ``{exercise: count}`` (the document's optional ``reps``), None without a track or
        when counting is off.
    """

    match: tuple[dict[str, Any] | None, ...]
    reps: tuple[dict[str, int] | None, ...]
    events: tuple[Event, ...] = field(default_factory=tuple)


class Behaviours:
    """The enabled behaviours and their per-track state."""

    def __init__(self, settings: BehavioursSettings, library: Loaded | None = None,
                 excluded: Excluded | None = None, min_keypoint_score: float = 0.2) -> None:  # fmt: skip
        self.settings = settings
        m = settings.match
        self._names = library.names if library is not None and m.enabled else ()
        self._library = library.normalized() if self._names else None
        self._mirrors = with_mirrors(self._library) if self._library is not None and m.mirror else None
        self._holds = PoseMatchHolds(m.match_threshold, m.hold, m.release, m.max_gap) if m.enabled else None
        self._falls = FallDetector(settings.falls, excluded) if settings.falls.enabled else None
        self._reps = RepCounter(settings.reps.rules()) if settings.reps.enabled else None
        self.min_keypoint_score = min_keypoint_score  # for the angles the repetitions are counted on

    def step(self, ts: float, poses: Sequence[Pose]) -> FrameBehaviours:
        events: list[Event] = []
        matches: list[dict[str, Any] | None] = [None] * len(poses)
        reps: list[dict[str, int] | None] = [None] * len(poses)
        if self._library is not None and poses:
            m = self.settings.match
            people = normalize(np.stack([p.keypoints for p in poses]))
            got = best_match(people, self._library, m.metric, m.mirror, self._mirrors)
            names = [self._names[i] for i in got.index.tolist()]
            scores = got.score.tolist()
            matches = [{"pose": n, "score": round(s, 4)} for n, s in zip(names, scores, strict=True)]
            if self._holds is not None:
                samples = [Sample(p.id, n, s) for p, n, s in zip(poses, names, scores, strict=True) if p.id is not None]
                events += self._holds.update(ts, samples)
        tracked = [i for i, p in enumerate(poses) if p.id is not None]
        if tracked and (self._falls is not None or self._reps is not None):
            ids = [poses[i].id for i in tracked]
            keypoints = np.stack([poses[i].keypoints for i in tracked])
            if self._falls is not None:
                events += self._falls.update_all(ts, ids, keypoints)
            if self._reps is not None:
                angles = joint_angles_all(keypoints, self.min_keypoint_score)
                events += self._reps.update_all(ts, ids, angles, ANGLE_NAMES)
                for i, track in zip(tracked, ids, strict=True):
                    reps[i] = self._reps.counts(track)
        return FrameBehaviours(tuple(matches), tuple(reps), tuple(events))

    def end(self, track: int) -> None:
        """A track ended: its holds, fall state and counts go with it."""
        if self._holds is not None:
            self._holds.end(track)
        if self._falls is not None:
            self._falls.end(track)
        if self._reps is not None:
            self._reps.reset(track)

    def reset_reps(self) -> None:
        """The reset command (``<prefix>/<camera>/reps/reset``): every count starts again."""
        if self._reps is not None:
            self._reps.reset()
