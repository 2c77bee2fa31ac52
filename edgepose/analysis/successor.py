"""A stage a reload built, which takes over its predecessor's zone state on its first frame."""

from __future__ import annotations

import dataclasses

from edgepose.analysis.stage import AnalysisStage
from edgepose.pose import FrameResult


class Successor:
    """A stage built by a reload that takes over its predecessor's zone state on its first frame.

    The stage is built on the main thread while its predecessor still runs. The pipeline hands
    every frame to the predecessor before the first one this stage sees (a Reconfigure applies at
    a frame boundary and frames are published in order, overlapped or not), so taking over on the
    first :meth:`apply`, on the inference thread, loses no frame of state.

    A zone keeps its state when a zone of the same name remains: who is inside, the debounce under
    way, the count, with the zone's new polygon, anchor rule and times from the next frame on. So an
    unchanged zone fires nothing, and a moved or reshaped one fires enter/leave only for the people
    whose side of its edge changed, after the usual ``enter_after``/``leave_after``. A new zone
    starts empty; a removed one ends without events (its retained state is cleared by the sinks).
    The behaviours' state (holds, falls, repetition counts) is kept by reusing the analyzer itself
    when its settings did not change (:meth:`~edgepose.service.reload.Reloader.build_analysis`),
    else it starts again.
    """

    def __init__(self, stage: AnalysisStage, previous: AnalysisStage | Successor | None) -> None:
        self.stage = stage
        self._previous = previous

    def apply(self, result: FrameResult, continuous: bool = True) -> FrameResult:
        if self._previous is not None:
            self.settle()
        return self.stage.apply(result, continuous)

    def settle(self) -> AnalysisStage:
        """Take over the predecessor's state now (once); the stage. Only on the inference thread,
        or before the pipeline runs."""
        previous, self._previous = self._previous, None
        if isinstance(previous, Successor):
            previous = previous.settle()
        if previous is not None:
            take_over_zones(previous, self.stage)
        return self.stage

    def reset(self) -> None:
        self._previous = None
        self.stage.reset()

    def reset_reps(self, track: int | None = None) -> bool:
        return self.stage.reset_reps(track)


def take_over_zones(previous: AnalysisStage, stage: AnalysisStage) -> None:
    """Each zone of ``stage`` that ``previous`` also had (by name) continues from its state there."""
    if previous.zones is None or stage.zones is None:
        return
    before = {t.zone.name: t for t in previous.zones.trackers}
    trackers = stage.zones.trackers
    for i, tracker in enumerate(trackers):
        old = before.get(tracker.zone.name)
        if old is not None:
            trackers[i] = dataclasses.replace(old, zone=tracker.zone)
