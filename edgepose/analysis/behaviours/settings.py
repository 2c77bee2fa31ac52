"""Configuration of the behaviours: frozen dataclasses declared like the sections of edgepose/config/.

Every field is a :func:`edgepose.config.fields.setting` with its default, one line of doc and its
limits, so :func:`edgepose.config.validate.build` checks them (unknown keys, types, limits, the
YAML line) and :mod:`edgepose.config.reference` can document them. Rules that span fields are
checked in ``__post_init__`` (``build`` reports them with the section's key path); the one rule
that needs the zones (``falls.exclude`` names) is checked with the analysis section, which holds
them (:mod:`edgepose.config.sections`).

Wiring them into the main config is one field, e.g. in ``Config`` (or an ``analysis`` section)::

    behaviours: BehavioursSettings = setting(factory=BehavioursSettings, doc="pose matching, falls, reps")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgepose.analysis.behaviours.rules import PRESETS, RepRule
from edgepose.analysis.joints import JOINTS
from edgepose.config.fields import setting

# A pose, exercise or zone name: it becomes part of a topic, a file name and an entity id.
NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"

# The names of JOINTS (the limb angles of the one angle table), spelled out for the type checker.
JointName = Literal[
    "left_elbow",
    "right_elbow",
    "left_shoulder",
    "right_shoulder",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
]
PresetName = Literal["squat", "pushup", "curl"]

# Each metric's own threshold: between the real model's scores of the same pose (resized, shifted,
# mirrored: weighted >= 0.94, cosine >= 0.98) and of other people (weighted <= 0.87, cosine <= 0.89).
DEFAULT_THRESHOLD = {"weighted": 0.9, "cosine": 0.95}


@dataclass(frozen=True)
class MatchSettings:
    enabled: bool = setting(False, "match each tracked person against the pose library")
    library: str = setting(
        "",
        "the pose library directory (`edgepose poses add`); empty: $STATE_DIRECTORY/poses or "
        "~/.local/share/edgepose/poses",
    )
    metric: Literal["weighted", "cosine"] = setting(
        "weighted", "weighted: MoveMirror's confidence-weighted distance; cosine: of the normalized keypoints"
    )
    threshold: float | None = setting(
        None,
        "a score (0..1, 1 = the same shape) at or above this is a match; null: the metric's own "
        "(weighted 0.9, cosine 0.95; measured in docs/behaviours.md)",
        min=0.0,
        max=1.0,
    )
    hold: float = setting(1.0, "seconds a person must hold a match before the pose_match event", min=0.0, max=3600.0)
    release: float = setting(
        0.05,
        "a hold ends when the score falls this far below threshold (stops flicker at the edge)",
        min=0.0,
        max=1.0,
    )
    mirror: bool = setting(True, "a left-right mirrored pose matches too")
    max_gap: float = setting(1.0, "seconds a track may go unseen before its hold ends", min=0.01, max=60.0)

    def __post_init__(self) -> None:
        if self.release > self.match_threshold:
            raise ValueError(f"release ({self.release}) is above threshold ({self.match_threshold})")

    @property
    def match_threshold(self) -> float:
        return DEFAULT_THRESHOLD[self.metric] if self.threshold is None else self.threshold


@dataclass(frozen=True)
class FallSettings:
    enabled: bool = setting(False, "detect falls per tracked person")
    min_keypoint_score: float = setting(
        0.3, "shoulders, hips and the keypoints giving the body's extent count when at least this", min=0.0, max=1.0
    )
    window: float = setting(1.0, "seconds within which the hips must drop for a fall", min=0.1, max=10.0)
    drop: float = setting(
        0.25, "the hip centre must drop by this fraction of the body's height within window", min=0.05, max=1.0
    )
    falling_lean: float = setting(
        45.0, "degrees from vertical the torso must lean, together with the drop, to start a fall", min=0.0, max=90.0
    )
    settle: float = setting(2.0, "seconds after the drop within which the person must be lying", min=0.1, max=30.0)
    lying_lean: float = setting(
        60.0,
        "lying: the torso, and the line from the feet to the shoulders, lean at least this far from vertical, degrees",
        min=0.0,
        max=90.0,
    )
    lying_height: float = setting(
        0.25,
        "lying, where no ankle or knee is visible: the hip centre is at most this fraction of the body's "
        "height above its lowest keypoint",
        min=0.0,
        max=1.0,
    )
    down_for: float = setting(2.0, "seconds lying must last before the fall event", min=0.0, max=60.0)
    upright_lean: float = setting(30.0, "upright again: the torso leans at most this far, degrees", min=0.0, max=90.0)
    upright_height: float = setting(
        0.35,
        "upright again: the hip centre is at least this fraction of the body's height above its lowest keypoint",
        min=0.0,
        max=1.0,
    )
    recover_for: float = setting(1.0, "seconds upright before the recovered event", min=0.0, max=60.0)
    cooldown: float = setting(
        30.0, "seconds after a fall event before the same track can fall again", min=0.0, max=3600.0
    )
    max_gap: float = setting(1.0, "seconds without a usable sample that restart a track's history", min=0.01, max=60.0)
    exclude: tuple[str, ...] = setting(factory=tuple, doc="zone names (a bed, a sofa) where lying down is not a fall")

    def __post_init__(self) -> None:
        if self.upright_lean >= self.lying_lean:
            raise ValueError(f"upright_lean ({self.upright_lean}) must be below lying_lean ({self.lying_lean})")
        if self.upright_height <= self.lying_height:
            raise ValueError(f"upright_height ({self.upright_height}) must be above lying_height ({self.lying_height})")
        for i, name in enumerate(self.exclude):  # the validator checks a pattern on strings, not list items
            if not re.fullmatch(NAME, name):
                raise ValueError(f"exclude[{i}]: {name!r} is not a zone name (letters, digits, _ and -)")
        if len(set(self.exclude)) != len(self.exclude):
            raise ValueError(f"exclude names a zone twice: {list(self.exclude)}")


@dataclass(frozen=True)
class RepSpec:
    name: str = setting("", "the exercise's name in documents and events", pattern=NAME)
    angles: tuple[JointName, ...] = setting(factory=tuple, doc="the joint angles it is measured on")
    combine: Literal["mean", "min", "max"] = setting("mean", "how the angles of one frame are combined")
    low: float = setting(90.0, "degrees at or below which the repetition reaches its far end", min=0.0, max=180.0)
    high: float = setting(160.0, "degrees at or above which it is back at rest (and counted)", min=0.0, max=180.0)

    def __post_init__(self) -> None:
        self.rule()  # refuses low >= high, no angles

    def rule(self) -> RepRule:
        if not self.name:
            raise ValueError("name: empty")
        return RepRule(self.name, tuple(self.angles), self.low, self.high, self.combine)


@dataclass(frozen=True)
class RepsSettings:
    enabled: bool = setting(False, "count exercise repetitions per tracked person")
    presets: tuple[PresetName, ...] = setting(
        factory=lambda: ("squat",),
        doc="built-in exercises: squat (knees 160 -> 100 -> 160), pushup (elbows 150 -> 90 -> 150), "
        "curl (the more bent elbow 140 -> 60 -> 140)",
    )
    custom: tuple[RepSpec, ...] = setting(factory=tuple, doc="user-defined exercises")

    def __post_init__(self) -> None:
        names = [*self.presets, *(c.name for c in self.custom)]
        if len(set(names)) != len(names):
            raise ValueError(f"exercise names repeat: {names}")

    def rules(self) -> tuple[RepRule, ...]:
        return (*(PRESETS[p] for p in self.presets), *(c.rule() for c in self.custom))


@dataclass(frozen=True)
class BehavioursSettings:
    match: MatchSettings = setting(factory=MatchSettings, doc="pose matching against the pose library")
    falls: FallSettings = setting(factory=FallSettings, doc="fall detection")
    reps: RepsSettings = setting(factory=RepsSettings, doc="repetition counting")


def library_dir(configured: str = "", env: Mapping[str, str] | None = None) -> Path:
    """Where the pose library is: the config, systemd's StateDirectory, or ~/.local/share/edgepose/poses."""
    env = os.environ if env is None else env
    if configured:
        return Path(configured).expanduser()
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / "poses"
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "edgepose" / "poses"


__all__ = ["JOINTS", "BehavioursSettings", "FallSettings", "MatchSettings", "RepSpec", "RepsSettings"]
