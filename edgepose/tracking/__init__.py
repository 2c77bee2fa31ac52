"""Tracking: stable person ids across frames, and One Euro smoothing per track."""

from __future__ import annotations

from edgepose.config.sections import TrackingConfig
from edgepose.tracking.smoothing import OneEuroFilter, OneEuroParams
from edgepose.tracking.tracker import PoseTracker, TrackingStage, box_similarity, keypoint_similarity

# The trackers' own minimum similarity when tracking.min_similarity is 0.
DEFAULT_MIN_SIMILARITY = {"keypoint": 0.2, "bbox": 0.15}


def make_tracker(config: TrackingConfig, box_min_score: float = 0.2) -> TrackingStage | None:
    """The tracking stage the config asks for, or None for ``tracker: none``."""
    if config.tracker == "none":
        return None
    if config.tracker == "keypoint":
        similarity = keypoint_similarity(config.keypoint_threshold, config.min_keypoints)
    else:
        similarity = box_similarity()
    params = OneEuroParams(config.min_cutoff, config.beta, config.d_cutoff) if config.smoothing else None
    tracker = PoseTracker(
        similarity,
        config.min_similarity or DEFAULT_MIN_SIMILARITY[config.tracker],
        max_tracks=config.max_tracks,
        max_age=config.max_age_ms / 1000.0,  # the config speaks ms; everything inside speaks seconds
        smoothing=params,
        box_min_score=box_min_score,
    )
    return TrackingStage(tracker)


__all__ = ["OneEuroFilter", "OneEuroParams", "PoseTracker", "TrackingStage", "make_tracker"]
