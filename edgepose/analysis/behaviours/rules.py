"""What one exercise's repetition is, and the presets: plain data, so the config checks them without NumPy.

``reps`` counts with them; the config sections (imported by the CLI's parser) only name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Combine = Literal["mean", "min", "max"]


@dataclass(frozen=True, slots=True)
class RepRule:
    """What one exercise's repetition is. Angles in degrees."""

    name: str
    angles: tuple[str, ...]
    low: float
    high: float
    combine: Combine = "mean"

    def __post_init__(self) -> None:
        if not self.angles:
            raise ValueError(f"{self.name}: no angles")
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low ({self.low}) must be below high ({self.high})")

    def value(self, angles: Mapping[str, float | None]) -> float | None:
        """This rule's angle for one frame, or None when none of its angles is known."""
        got = [v for a in self.angles if (v := angles.get(a)) is not None]
        if not got:
            return None
        if self.combine == "min":
            return min(got)
        if self.combine == "max":
            return max(got)
        return sum(got) / len(got)


# The presets. Squat: both knees, straight (>= 160) to below 100 and back (knees of a parallel
# squat are near 90). Push-up: both elbows, straight (>= 150) to below 90. Curl: the more bent
# elbow (a one-arm curl leaves the other straight), open (>= 140) to below 60.
PRESETS: dict[str, RepRule] = {
    "squat": RepRule("squat", ("left_knee", "right_knee"), low=100.0, high=160.0),
    "pushup": RepRule("pushup", ("left_elbow", "right_elbow"), low=90.0, high=150.0),
    "curl": RepRule("curl", ("left_elbow", "right_elbow"), low=60.0, high=140.0, combine="min"),
}
