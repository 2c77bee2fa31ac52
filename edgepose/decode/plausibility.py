"""Is a pose one person? A gate against poses stitched from several people.

A single-person model (MoveNet SinglePose) always returns one pose. On a crowded picture that pose
can take its joints from several people: a face far away, an elbow on a near child, the ankles
on the sand. Such a chimera has limbs whose lengths do not fit one body. The rules, per pose,
over the keypoints scoring above ``min_score`` (the others are missing, and missing keypoints
never fail a pose by themselves):

1. **Limbs against each other and the torso** (``limb``): each visible segment (upper arm,
   forearm, thigh, shank, torso side, shoulder and hip width, nose to shoulder) gives an
   estimate of the person's stature: its length over its share of the stature (:data:`SEGMENTS`).
   Foreshortening only shortens a segment, so a real pose's estimates are at most its stature;
   a segment joining two people estimates a giant. The largest estimate over the median
   estimate must stay below ``Thresholds.limb``.
2. **Left/right symmetry** (``symmetry``): the same segment on the left and on the right comes
   from two people of different sizes in a left/right chimera. The median, over the visible
   pairs, of ``|log(left / right)|`` must stay below ``log(Thresholds.symmetry)``; one
   foreshortened limb does not move a median of several pairs.
3. **Keypoint span against the body** (``span``): the farthest two visible keypoints (the extent
   of the pose's box) over the median stature estimate of the arm and leg segments alone must
   stay below ``Thresholds.span``: a person is about as wide and tall as their stature, while
   the limbs of two people some way apart span the gap between them too.

Every rule needs a few segments (``Thresholds.min_segments``, ``min_pairs``): a pose with fewer
passes it. All of it is vectorized over ``(P, 17, 3)`` keypoints: :func:`check` is one pass over
a frame's poses, whatever their number.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgepose.keypoints import KP

# Segment lengths as a share of stature (body height H), from Drillis and Contini's anthropometric
# table (1966), as printed in Winter, "Biomechanics and Motor Control of Human Movement": shoulder
# (acromion) height 0.818 H, hip (greater trochanter) 0.530 H, knee 0.285 H, ankle 0.039 H, upper
# arm 0.186 H, forearm 0.146 H, shoulder width 0.259 H, hip width 0.191 H. Nose to shoulder: the
# nose about 0.09 H above the shoulders and half a shoulder width across, 0.16 H. COCO's hip
# keypoints sit inside the trochanters (its hip width is narrower); the thresholds allow for that.
SEGMENTS: tuple[tuple[str, str, str, float], ...] = (
    ("left_upper_arm", "left_shoulder", "left_elbow", 0.186),
    ("right_upper_arm", "right_shoulder", "right_elbow", 0.186),
    ("left_forearm", "left_elbow", "left_wrist", 0.146),
    ("right_forearm", "right_elbow", "right_wrist", 0.146),
    ("left_thigh", "left_hip", "left_knee", 0.245),
    ("right_thigh", "right_hip", "right_knee", 0.245),
    ("left_shank", "left_knee", "left_ankle", 0.246),
    ("right_shank", "right_knee", "right_ankle", 0.246),
    ("left_torso", "left_shoulder", "left_hip", 0.288),
    ("right_torso", "right_shoulder", "right_hip", 0.288),
    ("shoulder_width", "left_shoulder", "right_shoulder", 0.259),
    ("hip_width", "left_hip", "right_hip", 0.191),
    ("left_neck", "nose", "left_shoulder", 0.16),
    ("right_neck", "nose", "right_shoulder", 0.16),
)
SEGMENT_NAMES = tuple(s[0] for s in SEGMENTS)
_A = np.array([KP[s[1]] for s in SEGMENTS])
_B = np.array([KP[s[2]] for s in SEGMENTS])
_SHARE = np.array([s[3] for s in SEGMENTS])
# The arm and leg segments: each joins two joints of one limb, so in a pose stitched from a few
# whole limbs of several people they still measure one body each, where the torso and the neck
# cross between people.
_LIMBS = np.array(["arm" in s[0] or "thigh" in s[0] or "shank" in s[0] for s in SEGMENTS])
# Left/right pairs, as indices into SEGMENTS.
PAIRS: tuple[tuple[int, int], ...] = tuple(
    (SEGMENT_NAMES.index(f"left_{n}"), SEGMENT_NAMES.index(f"right_{n}"))
    for n in ("upper_arm", "forearm", "thigh", "shank", "torso", "neck")
)

LIMB, SYMMETRY, SPAN = 1, 2, 4  # bits of Verdict.reasons
REASONS = {LIMB: "limb", SYMMETRY: "symmetry", SPAN: "span"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The gate's limits (docs/accuracy.md gives the values measured on real and stitched poses).

    limb: largest stature estimate over the median one (a segment this much longer than the
        body the others describe joins two people).
    symmetry: the median ratio of left to right segment lengths (either way round).
    span: the pose's extent (farthest two keypoints) over the median stature estimate.
    min_score: keypoints scoring at or below this are missing.
    min_segments: visible segments for the limb rule; min_limbs: visible arm and leg segments
        for the span rule; min_pairs: visible left/right pairs for the symmetry rule.
    """

    limb: float = 3.0
    symmetry: float = 2.0
    span: float = 1.8
    min_score: float = 0.2
    min_segments: int = 4
    min_limbs: int = 5
    min_pairs: int = 4

    def __post_init__(self) -> None:
        if not (self.limb > 1 and self.symmetry > 1 and self.span > 0):
            raise ValueError(f"limb and symmetry must exceed 1 and span 0: {self}")
        if self.min_segments < 2 or self.min_limbs < 1 or self.min_pairs < 1:
            raise ValueError(f"min_segments must be at least 2, min_limbs and min_pairs at least 1: {self}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's findings for ``P`` poses.

    plausible: ``(P,)`` bool, no rule failed.
    reasons: ``(P,)`` int, the failed rules' bits (:data:`LIMB`, :data:`SYMMETRY`, :data:`SPAN`).
    limb, symmetry, span: ``(P,)`` float, each rule's measure (NaN where too few keypoints were
        visible to measure it): what the thresholds are compared with.
    """

    plausible: np.ndarray
    reasons: np.ndarray
    limb: np.ndarray
    symmetry: np.ndarray
    span: np.ndarray

    def why(self, i: int) -> tuple[str, ...]:
        """The names of the rules pose ``i`` failed (empty when plausible)."""
        return reason_names(int(self.reasons[i]))


def reason_names(bits: int) -> tuple[str, ...]:
    return tuple(name for bit, name in REASONS.items() if bits & bit)


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median of each row's masked values (NaN for a row with none), without NumPy's all-NaN warnings."""
    filled = np.where(mask, values, np.inf)
    ordered = np.sort(filled, axis=1)
    n = mask.sum(axis=1)
    lo = np.clip((n - 1) // 2, 0, values.shape[1] - 1)
    hi = np.clip(n // 2, 0, values.shape[1] - 1)
    rows = np.arange(values.shape[0])
    median = (ordered[rows, lo] + ordered[rows, hi]) / 2
    return np.where(n > 0, median, np.nan)


def segment_lengths(keypoints: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """``(P, S)`` lengths of :data:`SEGMENTS` (pixels) and whether both their ends are visible."""
    kp = np.asarray(keypoints, np.float64)
    delta = kp[:, _A, :2] - kp[:, _B, :2]
    visible = (kp[:, _A, 2] > min_score) & (kp[:, _B, 2] > min_score)
    return np.hypot(delta[..., 0], delta[..., 1]), visible


def check(keypoints: np.ndarray, thresholds: Thresholds | None = None) -> Verdict:
    """The plausibility of each of ``(P, 17, 3)`` poses (x, y, score; any pixel frame, the rules use ratios)."""
    t = thresholds or Thresholds()
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"keypoints must be (P, 17, 3), got {kp.shape}")
    length, seen = segment_lengths(kp, t.min_score)
    stature = length / _SHARE  # (P, S): the body height each segment implies
    seen &= stature > 0  # two keypoints on one pixel measure nothing
    n = seen.sum(axis=1)
    median = _masked_median(stature, seen)
    enough = (n >= t.min_segments) & (median > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        biggest = np.where(seen, stature, -np.inf).max(axis=1, initial=-np.inf)
        limb = np.where(enough, biggest / median, np.nan)
        # Span: the farthest two visible keypoints.
        visible = kp[..., 2] > t.min_score
        xy = kp[..., :2]
        gap = np.hypot(*(xy[:, :, None, :] - xy[:, None, :, :]).transpose(3, 0, 1, 2))
        gap = np.where(visible[:, :, None] & visible[:, None, :], gap, 0.0)
        limbs = seen & _LIMBS
        limb_median = _masked_median(stature, limbs)
        measured = (limbs.sum(axis=1) >= t.min_limbs) & (limb_median > 0)
        span = np.where(measured, gap.max(axis=(1, 2)) / limb_median, np.nan)
        left, right = np.array([p[0] for p in PAIRS]), np.array([p[1] for p in PAIRS])
        both = seen[:, left] & seen[:, right]
        log_ratio = np.abs(np.log(np.where(both, length[:, left] / length[:, right], 1.0)))
        symmetry = np.exp(_masked_median(log_ratio, both))
        symmetry = np.where(both.sum(axis=1) >= t.min_pairs, symmetry, np.nan)
    reasons = (
        np.where(limb > t.limb, LIMB, 0)
        | np.where(symmetry > t.symmetry, SYMMETRY, 0)
        | np.where(span > t.span, SPAN, 0)
    ).astype(np.int64)  # NaN compares False: an unmeasured rule passes
    return Verdict(reasons == 0, reasons, limb, symmetry, span)


# A single-person model "keeps seeing several people" when this many of the last WINDOW frames
# had a pose the gate dropped or a followed person jump away (about 20% of a few seconds of video).
CROWD_WINDOW = 100
CROWD_EVENTS = 20


def jumped(previous: tuple[float, float, float, float] | None, box: tuple[float, float, float, float] | None) -> bool:
    """Whether a person's box moved by more than its size (the larger of the two boxes) between two frames.

    A real person does not cross their own height in one frame; a single-person model that
    switches from one person to another does (the crop region then jumps with it). The larger box
    counts, so a person first seen by the head alone and then whole has not jumped.
    """
    if previous is None or box is None:
        return False
    size = max(previous[2] - previous[0], previous[3] - previous[1], box[2] - box[0], box[3] - box[1])
    dx = (box[0] + box[2] - previous[0] - previous[2]) / 2
    dy = (box[1] + box[3] - previous[1] - previous[3]) / 2
    return size > 0 and float(np.hypot(dx, dy)) > size


@dataclass
class CrowdWatch:
    """Says once that a single-person model keeps seeing several people (then MultiPose or PoseNet fits).

    :meth:`observe` takes one frame's finding (a pose dropped by the gate, or the followed person
    jumped) and returns True the one time ``events`` of the last ``window`` frames had one.
    """

    window: int = CROWD_WINDOW
    events: int = CROWD_EVENTS
    said: bool = False
    _recent: deque[bool] = field(default_factory=deque, repr=False)

    def observe(self, several: bool) -> bool:
        self._recent.append(several)
        if len(self._recent) > self.window:
            self._recent.popleft()
        if self.said or sum(self._recent) < self.events:
            return False
        self.said = True
        return True
