"""A lane is one camera in the pipeline: its source and the stages that keep state per camera.

The stages a lane holds are small protocols (:class:`Tracking`, :class:`Analyzing`), so the
pipeline needs nothing of the tracker or the analysis stage but their calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from edgepose.estimation.estimator import PoseEstimator
from edgepose.pipeline.scheduling import CameraSlot
from edgepose.pose import FrameResult
from edgepose.sources.base import Source
from edgepose.stats import RunStats


class Tracking(Protocol):
    """A stage that gives poses ids (and may smooth them); frames arrive in capture order."""

    def __call__(self, result: FrameResult) -> FrameResult: ...

    def reset(self) -> None: ...


class Analyzing(Protocol):
    """The analysis stage after tracking (:class:`edgepose.analysis.AnalysisStage`): angles, zones, events.

    It runs on every frame, photos included (they get counts, no enter/leave), and never raises.
    """

    def apply(self, result: FrameResult, continuous: bool = True) -> FrameResult: ...

    def reset(self) -> None: ...


@dataclass(eq=False)
class Lane:
    """One camera in the pipeline: its source and the stages that keep state per camera.

    Every camera has its own estimator (the crop region and input buffers, on the one shared
    engine), tracker (ids are per camera), analysis stage and figures (``stats``: its
    ``RunStats.camera(name)``, given by the pipeline when left None). ``fps_cap``: at most that many
    of its frames a second are processed (None: round-robin only). The rest is the run's state.
    """

    name: str
    source: Source
    estimator: PoseEstimator
    stats: RunStats | None = None  # type: ignore[assignment]  (set by the pipeline when None)
    tracking: Tracking | None = None
    analysis: Analyzing | None = None
    fps_cap: float | None = None
    slot_size: int | None = None  # a live camera's slot; None: the pipeline's
    slot: CameraSlot | None = field(default=None, repr=False)
    halt: threading.Event = field(default_factory=threading.Event, repr=False)  # ends its capture thread
    thread: threading.Thread | None = field(default=None, repr=False)
    error: BaseException | None = None  # what ended its capture (a source that failed for good)
    retired: bool = False  # no longer scheduled: removed, or its max_frames reached
