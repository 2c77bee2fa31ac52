"""The analysis stage: after tracking and smoothing, angles per pose and the frame's events.

The stage builds one :class:`FrameView` per frame (the poses as arrays, the angles when any part
needs them) and hands it to each :class:`Analyzer` in turn; each returns :class:`Findings`: fields
to add to every pose's document entry and events. Zones are one analyzer; behaviours (pose
matching, falls, repetitions) are further ones, added to the list :func:`make_analysis` builds.

The stage never raises on a frame: an analyzer that fails is counted (``failures``), logged (rate
limited) and left out of that frame's findings; the pose document is published as it would be
without it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, overload

import numpy as np

from edgepose.analysis.anchors import anchor_points
from edgepose.analysis.angles import joint_angles
from edgepose.analysis.events import Event, ZoneState
from edgepose.analysis.findings import NOTHING, Analysis, Findings
from edgepose.analysis.joints import ANGLE_NAMES
from edgepose.analysis.polygon import PolygonSet
from edgepose.analysis.zones import Zone, ZoneTracker
from edgepose.keypoints import NUM_KEYPOINTS
from edgepose.pose import FrameResult
from edgepose.stats import RunStats

if TYPE_CHECKING:  # edgepose.analysis.behaviours imports the polygons of this package
    from edgepose.analysis.behaviour import BehaviourAnalyzer
    from edgepose.analysis.behaviours.library import Loaded

log = logging.getLogger(__name__)

ANGLE_DIGITS = 1  # degrees in documents: 0.1 is finer than any keypoint model's error


@dataclass(frozen=True, slots=True)
class FrameView:
    """One frame's poses as arrays, built once for every analyzer.

    keypoints: ``(P, 17, 3)`` float64 source-frame pixels; boxes: ``(P, 4)`` pixels; ids: per pose;
    angles: ``(P, len(ANGLE_NAMES))`` degrees, NaN where unknown (empty ``(P, 0)`` when no part needs them);
    continuous: the frames are one scene in time (video, camera), not unrelated images.
    """

    result: FrameResult
    keypoints: np.ndarray
    boxes: np.ndarray
    ids: tuple[int | None, ...]
    angles: np.ndarray
    continuous: bool
    min_score: float

    @classmethod
    def of(
        cls,
        result: FrameResult,
        continuous: bool,
        min_score: float,
        with_angles: bool,
        angles_of: Callable[[np.ndarray, float], np.ndarray] = joint_angles,
    ) -> FrameView:
        """``angles_of``: :func:`~edgepose.analysis.angles.joint_angles` or its compiled twin."""
        poses = result.poses
        n = len(poses)
        if n:
            keypoints = np.array([p.keypoints for p in poses], np.float64)
            boxes = np.array([p.box for p in poses], np.float64)
        else:
            keypoints, boxes = np.empty((0, NUM_KEYPOINTS, 3)), np.empty((0, 4))
        angles = angles_of(keypoints, min_score) if with_angles else np.empty((n, 0))
        return cls(result, keypoints, boxes, tuple(p.id for p in poses), angles, continuous, min_score)


class Analyzer(Protocol):
    """One part of the stage. ``needs_angles``: the stage computes angles for it."""

    name: str
    needs_angles: bool

    def __call__(self, view: FrameView) -> Findings: ...

    def reset(self) -> None:
        """Forget everything learnt from earlier frames (a new source, a reload)."""


class AngleEntries(Sequence[dict[str, float | None]]):
    """Each pose's ``angles`` entry, ``{"left_knee": 92.4, ...}`` (None where unknown), built when read.

    The stage only keeps the ``(P, A)`` array; the document builder, which reads every entry once,
    pays for the dictionaries (so the bench's stage table counts them under the document).
    """

    __slots__ = ("degrees",)

    def __init__(self, degrees: np.ndarray) -> None:
        self.degrees = degrees

    def __len__(self) -> int:
        return len(self.degrees)

    @overload
    def __getitem__(self, i: int) -> dict[str, float | None]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, float | None]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, float | None] | list[dict[str, float | None]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        row = np.round(self.degrees[i], ANGLE_DIGITS).tolist()
        return {k: (None if v != v else v) for k, v in zip(ANGLE_NAMES, row, strict=True)}  # NaN != NaN

    def __iter__(self) -> Iterator[dict[str, float | None]]:
        rows = np.round(self.degrees, ANGLE_DIGITS).tolist()
        for row in rows:
            yield {k: (None if v != v else v) for k, v in zip(ANGLE_NAMES, row, strict=True)}


class AngleAnalyzer:
    """Angles in each pose's document entry (:class:`AngleEntries`)."""

    name = "angles"
    needs_angles = True

    def __call__(self, view: FrameView) -> Findings:
        return Findings({"angles": AngleEntries(view.angles)})

    def reset(self) -> None:
        pass


class ZoneAnalyzer:
    """Zone enter/leave/count events and states, for the zones of one camera."""

    name = "zones"
    needs_angles = False

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.trackers = [ZoneTracker(z) for z in zones]
        self.polygons = PolygonSet(tuple(z.polygon for z in zones))
        self._rules = sorted({z.anchor for z in zones})  # the anchor rules in use, each computed once a frame
        self._rows = [self._rules.index(z.anchor) for z in zones]
        self._scale: tuple[tuple[int, int], np.ndarray] = ((0, 0), np.ones(2))
        self.changed: tuple[ZoneState, ...] = ()
        self._started = False

    def __call__(self, view: FrameView) -> Findings:
        self.changed = ()  # a failure part-way leaves no stale states behind
        result = view.result
        size, scale = self._scale
        if size != (result.width, result.height):
            size, scale = (result.width, result.height), np.array([result.width, result.height], np.float64)
            self._scale = (size, scale)
        n = len(view.ids)
        # The anchors of each rule in use, all against every zone in one pass; each zone reads its rule's rows.
        rules = self._rules
        points = np.empty((len(rules), n, 2))
        for r, rule in enumerate(rules):
            points[r] = anchor_points(view.keypoints, view.boxes, rule, view.min_score)
        points /= scale
        zones = len(self.trackers)  # spelled out: with nobody in view, -1 cannot be inferred from 0 values
        contained = self.polygons.contains(points.reshape(-1, 2)).reshape(len(rules), n, zones)  # (R, P, Z)
        events: list[Event] = []
        changed = []
        for i, (tracker, row) in enumerate(zip(self.trackers, self._rows, strict=True)):
            before = tracker.state
            new = tracker.update(
                result.mono, result.ts, result.frame_index, view.ids, points[row], view.continuous, contained[row, :, i]
            )
            events.extend(new)
            if tracker.state is not before or not self._started:
                changed.append(tracker.state)
        self._started = True
        self.changed = tuple(changed)  # type: ignore[arg-type]
        return Findings(events=tuple(events))

    def states(self) -> tuple[ZoneState, ...]:
        """Every zone's state after the last frame (None-free once a frame went through)."""
        return tuple(t.state for t in self.trackers if t.state is not None)

    def reset(self) -> None:
        self.trackers = [ZoneTracker(t.zone) for t in self.trackers]
        self.changed = ()
        self._started = False


class AnalysisStage:
    """Runs the analyzers over each frame; see the module's doc."""

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        min_keypoint_score: float,
        stats: RunStats | None = None,
        angles_of: Callable[[np.ndarray, float], np.ndarray] | None = None,
    ) -> None:
        self.analyzers = list(analyzers)
        self.stats = stats  # counts the failed frames too (analysis_failures: the stats topic and /metrics)
        self.min_keypoint_score = min_keypoint_score
        self.with_angles = any(a.needs_angles for a in self.analyzers)
        self.failures = 0  # frames on which some analyzer failed (its findings left out)
        self.failed_parts: dict[str, int] = {a.name: 0 for a in self.analyzers}  # frames failed, per analyzer
        self.zones = next((a for a in self.analyzers if isinstance(a, ZoneAnalyzer)), None)
        self.behaviours: BehaviourAnalyzer | None = next((a for a in self.analyzers if a.name == "behaviours"), None)  # type: ignore[assignment]
        if angles_of is None:  # the behaviours' kernels compute the angles too (the same values, one call)
            angles_of = self.behaviours.behaviours.kernels.joint_angles if self.behaviours is not None else joint_angles
        self.angles_of = angles_of

    def __call__(self, result: FrameResult, continuous: bool = True) -> Analysis:
        """Analyze one frame (after tracking); never raises."""
        try:
            view = FrameView.of(result, continuous, self.min_keypoint_score, self.with_angles, self.angles_of)
        except Exception as exc:  # a pose the arrays cannot hold: nothing to analyze on this frame
            self._failed("the frame", result, exc)
            return NOTHING
        fields: dict[str, Sequence[Any]] = {}
        events: list[Event] = []
        failed = False
        for analyzer in self.analyzers:
            try:
                found = analyzer(view)
            except Exception as exc:
                failed = True
                self.failed_parts[analyzer.name] = self.failed_parts.get(analyzer.name, 0) + 1
                self._failed(analyzer.name, result, exc)
                continue
            fields.update(found.pose_fields)
            events.extend(found.events)
        if failed:
            self._count_failure()
        zones = self.zones.changed if self.zones is not None else ()
        b = self.behaviours
        if b is None:
            return Analysis(fields, tuple(events), zones)
        return Analysis(fields, tuple(events), zones, b.falls, b.falls_changed)

    def apply(self, result: FrameResult, continuous: bool = True) -> FrameResult:
        """The pipeline's step: ``result`` with what this frame's analysis found (FrameResult in and out)."""
        return dataclasses.replace(result, analysis=self(result, continuous))

    def _failed(self, part: str, result: FrameResult, exc: Exception) -> None:
        if part == "the frame":
            self._count_failure()
        log.warning(
            "analysis: %s failed on frame %d (%s: %s); skipped", part, result.frame_index, type(exc).__name__, exc
        )
        log.debug("analysis failure", exc_info=True)

    def _count_failure(self) -> None:
        self.failures += 1
        if self.stats is not None:
            self.stats.count("analysis_failures")

    def reset_reps(self, track: int | None = None) -> bool:
        """Queue a repetition count reset (every track, or one) for the next frame; thread-safe.
        False when repetition counting is off (nothing to reset)."""
        if self.behaviours is None or not self.behaviours.with_reps:
            return False
        self.behaviours.request_reps_reset(track)
        return True

    def zone_states(self) -> tuple[ZoneState, ...]:
        return self.zones.states() if self.zones is not None else ()

    def reset(self) -> None:
        for analyzer in self.analyzers:
            analyzer.reset()


def make_analysis(
    config: Any, camera: str, library: Loaded | None = None, stats: RunStats | None = None
) -> AnalysisStage | None:
    """The stage ``config.analysis`` asks for on ``camera``, or None when analysis is off.

    ``library``: the pose library for matching (read from ``analysis.behaviours.match.library``
    when None); an empty or unreadable one is refused (:class:`~edgepose.errors.ConfigError`).
    ``stats``: where the stage's failed frames are counted (``analysis_failures``)."""
    a = config.analysis
    if not a.enabled:
        return None
    analyzers: list[Analyzer] = []
    if a.angles:
        analyzers.append(AngleAnalyzer())
    zones = [zone_of(z) for z in a.zones if z.camera in ("", camera)]
    if zones:
        analyzers.append(ZoneAnalyzer(zones))
    from edgepose.analysis.behaviour import enabled_behaviours, make_behaviours
    from edgepose.kernels.behaviour import NUMPY, load_behaviour_kernels, warmup

    kernels = NUMPY  # zones alone need none of them
    if a.angles or enabled_behaviours(a.behaviours):
        # The decoder's kernel choice and cache; compiled (or loaded from the cache) here, when the
        # stage is built: before the first frame, so before the service reports ready.
        kernels = load_behaviour_kernels(config.decoder.kernel, config.decoder.numba_cache_dir)
        warmup(kernels)
    behaviours = make_behaviours(config, camera, library, kernels)
    if behaviours is not None:
        analyzers.append(behaviours)
    return AnalysisStage(analyzers, a.min_keypoint_score, stats, kernels.joint_angles)


def zone_of(config: Any) -> Zone:
    """A :class:`Zone` from one ``analysis.zones[]`` entry."""
    return Zone(
        config.name,
        np.asarray(config.polygon, np.float64),
        config.anchor,
        config.enter_after,
        config.leave_after,
        config.camera,
    )
