"""Changes to the running pipeline, queued from any thread and applied between two frames.

A reload (:mod:`edgepose.service.reload`) builds each change off the inference thread, so one that
cannot be built never reaches a frame, then queues it with :meth:`Pipeline.request
<edgepose.pipeline.runner.Pipeline.request>`: a stage swapped for one camera
(:class:`Reconfigure`), a camera added, removed, or given up after a failed restart.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from edgepose.estimation.estimator import DecoderSetup
from edgepose.pipeline.lanes import Analyzing, Lane, Tracking


class Keep(enum.Enum):
    """Marker for a :class:`Reconfigure` field that leaves its stage as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class Reconfigure:
    """A change to the running pipeline, applied by the inference thread between two frames.

    ``decoder``: a setup built beforehand (``PoseEstimator.setup_for``), None to keep the current
    one. ``tracking``: the new tracking stage, None for no tracking, ``KEEP`` to keep the current
    one; ``analysis`` the same for the analysis stage. Built outside the inference thread, so a
    change that cannot be built never reaches a frame.
    """

    decoder: DecoderSetup | None = None
    tracking: Tracking | Literal[Keep.KEEP] | None = KEEP
    analysis: Analyzing | Literal[Keep.KEEP] | None = KEEP
    camera: str | None = None  # the camera it is for; None: every camera (a tracker is then shared: one camera)


@dataclass(frozen=True)
class AddCamera:
    """A camera joins the running pipeline (a reload): its lane is built and its source opened beforehand."""

    lane: Lane


@dataclass(frozen=True)
class RemoveCamera:
    """A camera leaves the running pipeline. ``done(lane)`` is called once its capture thread has
    ended (on a thread of its own, so closing the source never holds up a frame)."""

    name: str
    done: Callable[[Lane], None] | None = None
    restart: bool = False  # ``done`` adds it back (AddCamera): the run does not end while it is away


@dataclass(frozen=True)
class AbandonCamera:
    """A camera's restart failed: it will not come back (``error`` says why). If no camera is left,
    the run ends and raises ``error``."""

    name: str
    error: BaseException


Request = Reconfigure | AddCamera | RemoveCamera | AbandonCamera
