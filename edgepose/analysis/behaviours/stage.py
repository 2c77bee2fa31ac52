"""All three behaviours over one frame's tracked poses: what the analysis stage calls.

One :meth:`Behaviours.step` per frame, after tracking and smoothing: the best library match of
every person (in one vectorized pass), the fall state machine and the repetition counters of every
tracked person (timed on the frame's ``mono`` seconds, as tracking is), and the events they raise,
as the analysis stage's :class:`~edgepose.analysis.events.Event` on the frame's time and counter.
Poses without a track id (photos, ``tracking.tracker: none``) get their match but no events, falls
or counts: those need a person followed over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgepose.analysis.behaviours.events import Happening, event
from edgepose.analysis.behaviours.falls import Excluded, FallDetector
from edgepose.analysis.behaviours.library import Loaded
from edgepose.analysis.behaviours.matching import PoseMatchHolds, Sample
from edgepose.analysis.behaviours.reps import RepCounter
from edgepose.analysis.behaviours.settings import BehavioursSettings
from edgepose.analysis.behaviours.similarity import check_poses, with_mirrors
from edgepose.analysis.events import Event
from edgepose.analysis.joints import ANGLE_NAMES
from edgepose.kernels.behaviour import NUMPY, BehaviourKernels
from edgepose.pose import FrameResult


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
    """The enabled behaviours and their per-track state.

    A track not seen for ``forget_after`` seconds is forgotten (its holds, fall state and counts),
    so a long run does not keep every track it ever saw; :meth:`end` forgets one at once.
    """

    def __init__(
        self,
        settings: BehavioursSettings,
        library: Loaded | None = None,
        excluded: Excluded | None = None,
        min_keypoint_score: float = 0.2,
        forget_after: float = 60.0,
        kernels: BehaviourKernels = NUMPY,
    ) -> None:
        self.settings = settings
        self.kernels = kernels  # the per-frame arithmetic (edgepose.kernels.behaviour): Numba or NumPy
        m = settings.match
        self._names = library.names if library is not None and m.enabled else ()
        self._library = library.normalized() if self._names else None
        self._mirrors = with_mirrors(self._library) if self._library is not None and m.mirror else None
        compared = self._mirrors if self._mirrors is not None else self._library
        if compared is not None:  # what best_match compares with: the library, then its mirror images
            self._compared = (np.ascontiguousarray(compared.xy), np.ascontiguousarray(compared.conf))
        self._holds = PoseMatchHolds(m.match_threshold, m.hold, m.release, m.max_gap) if m.enabled else None
        self._falls = FallDetector(settings.falls, excluded) if settings.falls.enabled else None
        self._reps = RepCounter(settings.reps.rules()) if settings.reps.enabled else None
        self.min_keypoint_score = min_keypoint_score  # for the angles the repetitions are counted on
        self.forget_after = forget_after
        self._seen: dict[int, float] = {}
        self._down: set[int] = set()  # tracks between their fall and their recovered event

    @property
    def tracks(self) -> tuple[int, ...]:
        """The tracks whose state is kept (seen within ``forget_after`` seconds)."""
        return tuple(self._seen)

    @property
    def down(self) -> tuple[int, ...]:
        """The tracks that fell and have not recovered (nor been forgotten), sorted."""
        return tuple(sorted(self._down))

    @property
    def needs_angles(self) -> bool:
        """Repetitions are counted on joint angles (the analysis stage computes them once a frame)."""
        return self._reps is not None

    def step(self, frame: FrameResult) -> FrameBehaviours:
        """One frame's poses (after tracking)."""
        poses = frame.poses
        keypoints = np.array([p.keypoints for p in poses], np.float64).reshape(-1, 17, 3)
        return self.step_arrays(frame, keypoints, tuple(p.id for p in poses))

    def step_arrays(
        self,
        frame: FrameResult,
        keypoints: np.ndarray,
        ids: Sequence[int | None],
        angles: np.ndarray | None = None,
        angle_names: Sequence[str] = ANGLE_NAMES,
    ) -> FrameBehaviours:
        """:meth:`step` on a frame already in arrays, as the analysis stage's ``FrameView`` holds it.

        frame: its ``mono`` seconds time the state machines, its ``ts``, counter and size make the
        events; keypoints: ``(P, 17, 3)`` source-frame pixels; ids: per pose, None when untracked;
        angles: ``(P, A)`` degrees (NaN: unknown) whose columns are ``angle_names``, computed here
        when None.
        """
        ts, n = frame.mono, len(ids)
        events: list[Happening] = []
        matches: list[dict[str, Any] | None] = [None] * n
        reps: list[dict[str, int] | None] = [None] * n
        if self._library is not None and n:
            m = self.settings.match
            index, score = self.kernels.best_match(
                np.ascontiguousarray(check_poses(keypoints)),
                *self._compared,
                len(self._library),
                m.metric == "weighted",
            )
            names = [self._names[i] for i in index.tolist()]
            scores = score.tolist()
            matches = [{"pose": p, "score": round(s, 4)} for p, s in zip(names, scores, strict=True)]
            if self._holds is not None:
                samples = [Sample(t, p, s) for t, p, s in zip(ids, names, scores, strict=True) if t is not None]
                events += self._holds.update(ts, samples)
        tracked = [i for i, t in enumerate(ids) if t is not None]
        tracks = [ids[i] for i in tracked]
        if tracked and (self._falls is not None or self._reps is not None):
            rows = np.ascontiguousarray(keypoints[tracked], np.float64)
            if self._falls is not None:
                measured = self.kernels.body_measures(rows, float(self._falls.s.min_keypoint_score))
                falls = self._falls.update_all(ts, tracks, rows, measured)
                for e in falls:
                    (self._down.add if e.kind == "fall" else self._down.discard)(e.track)
                events += falls
            if self._reps is not None:
                if angles is None:
                    angles, angle_names = self.kernels.joint_angles(rows, self.min_keypoint_score), ANGLE_NAMES
                else:
                    angles = np.asarray(angles)[tracked]
                events += self._reps.update_all(ts, tracks, angles, angle_names, self.kernels.rep_values)
                for i, track in zip(tracked, tracks, strict=True):
                    reps[i] = self._reps.counts(track)
        self._forget_unseen(ts, tracks)
        return FrameBehaviours(tuple(matches), tuple(reps), tuple(event(e, frame) for e in events))

    def _forget_unseen(self, ts: float, tracks: Sequence[int]) -> None:
        for track in tracks:
            self._seen[track] = ts
        for track in [t for t, last in self._seen.items() if ts - last > self.forget_after]:
            self.end(track)

    def end(self, track: int) -> None:
        """A track ended: its holds, fall state and counts go with it."""
        self._seen.pop(track, None)
        self._down.discard(track)
        if self._holds is not None:
            self._holds.end(track)
        if self._falls is not None:
            self._falls.end(track)
        if self._reps is not None:
            self._reps.reset(track)

    def reset_reps(self, track: int | None = None) -> None:
        """The reset command (``<prefix>/<camera>/reps/reset``): every count (``track`` None) or one
        track's starts again."""
        if self._reps is not None:
            self._reps.reset(track)

    def reset(self) -> None:
        """Forget every track (a new source, a reload)."""
        for track in list(self._seen):
            self.end(track)
