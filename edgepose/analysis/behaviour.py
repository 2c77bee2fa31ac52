"""The behaviours (pose matching, falls, repetitions) as one analyzer of the analysis stage.

:class:`edgepose.analysis.behaviours.stage.Behaviours` holds the per-track state and does the work over the
stage's :class:`~edgepose.analysis.stage.FrameView` (its arrays and angles, built once a frame);
this adapter turns what it finds into the stage's :class:`~edgepose.analysis.findings.Findings`: the
optional per-pose ``match`` and ``reps`` document fields, its events (already the stage's
:class:`~edgepose.analysis.events.Event`, on the frame's own time and counter), and the fall state
(who is down) the MQTT sink keeps retained.

The reps reset command arrives on the MQTT client's thread; it is queued here and applied at the
start of the next frame on the pipeline's thread, so the counters are only ever touched by one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.analysis.behaviours.falls import Excluded, zone_exclusion
from edgepose.analysis.behaviours.library import Loaded, PoseLibrary
from edgepose.analysis.behaviours.settings import BehavioursSettings, library_dir
from edgepose.analysis.behaviours.stage import Behaviours
from edgepose.analysis.events import FallState
from edgepose.analysis.joints import ANGLE_NAMES
from edgepose.errors import ConfigError
from edgepose.kernels.behaviour import BehaviourKernels, load_behaviour_kernels, warmup

log = logging.getLogger(__name__)

FORGET_AFTER = 60.0  # seconds: a track unseen this long is forgotten (its holds, fall state, counts)


def enabled_behaviours(settings: BehavioursSettings) -> tuple[str, ...]:
    """The names of the enabled behaviours, in a fixed order (meta's ``behaviours``)."""
    return tuple(n for n in ("match", "falls", "reps") if getattr(settings, n).enabled)


class BehaviourAnalyzer:
    """Matching, falls and repetitions over each frame; see the module's doc."""

    name = "behaviours"

    def __init__(self, behaviours: Behaviours, exclusion: ZoneExclusion | None = None) -> None:
        self.behaviours = behaviours
        self.exclusion = exclusion
        self.needs_angles = behaviours.needs_angles
        s = behaviours.settings
        self.with_match, self.with_falls, self.with_reps = s.match.enabled, s.falls.enabled, s.reps.enabled
        self._resets: deque[int | None] = deque()  # appended on another thread, drained on the pipeline's
        self.falls: FallState | None = None  # after the last frame, with falls on
        self.falls_changed = False  # on the last frame (every first frame counts as a change)

    def request_reps_reset(self, track: int | None = None) -> None:
        """Reset every count (``track`` None) or one track's, before the next frame; thread-safe."""
        self._resets.append(track)

    def __call__(self, view: Any) -> Any:
        from edgepose.analysis.findings import Findings

        while self._resets:
            track = self._resets.popleft()
            self.behaviours.reset_reps(track)
            log.info("behaviours: repetition counts reset (%s)", "every track" if track is None else f"track {track}")
        self.falls_changed = False
        r = view.result
        if self.exclusion is not None:
            self.exclusion.frame(r.width, r.height)
        angles = view.angles if self.needs_angles else None
        got = self.behaviours.step_arrays(r, view.keypoints, view.ids, angles, ANGLE_NAMES)
        fields: dict[str, Sequence[Any]] = {}
        if self.with_match and any(m is not None for m in got.match):
            fields["match"] = got.match
        if self.with_reps and any(c is not None for c in got.reps):
            fields["reps"] = got.reps
        if self.with_falls:
            down = self.behaviours.down
            if self.falls is None or down != self.falls.track_ids:
                self.falls, self.falls_changed = FallState(down, r.ts, r.frame_index), True
        return Findings(fields, got.events)

    def reset(self) -> None:
        self.behaviours.reset()
        self._resets.clear()
        self.falls, self.falls_changed = None, False


def load_library(directory: Path) -> Loaded:
    """The pose library matching reads, loaded once at start; refused (exit 78) when empty or unreadable.

    A library with some unusable files still matches against the good ones, with a warning per file.
    """
    loaded = PoseLibrary(directory).load()
    for problem in loaded.problems:
        log.warning("behaviours: pose library: %s (left out)", problem)
    if not loaded.entries:
        raise ConfigError(
            f"analysis.behaviours.match: the pose library {directory} has no usable pose",
            "add one with `edgepose poses add NAME IMAGE`, or set analysis.behaviours.match.library",
        )
    return loaded


def make_behaviours(
    config: Any, camera: str, library: Loaded | None = None, kernels: BehaviourKernels | None = None
) -> BehaviourAnalyzer | None:
    """The analyzer ``config.analysis.behaviours`` asks for on ``camera``, or None when all are off.

    ``library``: the pose library (read from the configured directory when None and matching is on).
    The zones named in ``falls.exclude`` exclude their areas from falls (:class:`ZoneExclusion`).
    ``kernels``: already loaded and warmed up (:func:`make_analysis` does); loaded here when None.
    """
    a = config.analysis
    settings: BehavioursSettings = a.behaviours
    if not enabled_behaviours(settings):
        return None
    if settings.match.enabled and library is None:
        library = load_library(library_dir(settings.match.library))
    polygons = [z.polygon for z in a.zones if z.name in settings.falls.exclude and z.camera in ("", camera)]
    exclusion = ZoneExclusion(polygons) if polygons else None
    # The decoder's kernel choice and cache; compiled (or loaded from the cache) here, at start-up,
    # so the first frame does not pay for it and the service is ready only after it.
    if kernels is None:
        kernels = load_behaviour_kernels(config.decoder.kernel, config.decoder.numba_cache_dir)
        warmup(kernels)
    behaviours = Behaviours(settings, library, exclusion, a.min_keypoint_score, FORGET_AFTER, kernels)
    return BehaviourAnalyzer(behaviours, exclusion)


class ZoneExclusion:
    """The falls' ``excluded`` predicate for zones' polygons (normalized 0..1) on frames of the size
    last given to :meth:`frame` (the detector asks with a hip centre in source-frame pixels)."""

    def __init__(self, polygons: Sequence[Any]) -> None:
        self.shapes = [np.asarray(p, np.float64) for p in polygons]
        self._size = (0, 0)
        self._inside: Excluded = lambda x, y: False

    def frame(self, width: int, height: int) -> None:
        if (width, height) != self._size:  # a new source: the polygons in its pixels
            self._size, self._inside = (width, height), zone_exclusion(self.shapes, width, height)

    def __call__(self, x: float, y: float) -> bool:
        return self._inside(x, y)
