"""A model ready to run and how to describe it: what the app builds, the meta document and the bench read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgepose.estimation.blazepose import BlazePoseEstimator
    from edgepose.estimation.estimator import PoseEstimator

    # What runs a model on frames: one model and its decoder, or BlazePose's two stages (the same interface).
    Estimator = PoseEstimator | BlazePoseEstimator


@dataclass
class Loaded:
    """A model ready to run, and how to describe it."""

    estimator: Estimator
    model_name: str
    model_path: Path
    accelerator: str
    fallback: str = ""  # why the CPU runs although the Edge TPU was asked for ("" when it was not)
