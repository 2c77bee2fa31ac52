"""Pose similarity in the manner of Google's MoveMirror, on ``(P, 17, 3)`` arrays.

Each pose is reduced to a 34-vector that keeps its shape and drops where it stands and how big it
is: the keypoints are translated to the centre of their own box (the box of all 17 keypoints) and
the 34 coordinates are divided by their L2 norm (:func:`normalize`). Two such vectors are compared
by one of two metrics:

``weighted`` (MoveMirror's confidence-weighted distance)
    ``d = Σ_k w_k · ‖a_k − b_k‖ / Σ_k w_k`` over the 17 keypoints, with ``w_k`` the product of the
    keypoint's confidence in both poses, so an occluded (low-confidence) joint counts little. With
    a fully confident reference this is exactly MoveMirror's ``1/ΣF_c · Σ F_ck ‖F_k − G_k‖``.
    The score is ``max(0, 1 − d · √17 / 2)``: 1 for the same shape, 0 at (or beyond) the distance of
    a pose to its own point reflection through the box centre (every keypoint opposite).
``cosine``
    ``a · b`` of the two unit vectors, clipped at 0; confidences are ignored.

Either way a **score is in [0, 1] and higher is better**; 1 means the same shape. On the real
MoveNet model, ``squat.bmp`` against itself resized, shifted and flipped scores 0.94-0.98 (weighted,
mirroring on) and 0.98-1.00 (cosine); against the people of ``posenet_test_image.bmp`` 0.73-0.87
and 0.78-0.89 (tests/test_behaviour_similarity.py, docs/behaviours.md). Cosine scores crowd near 1,
so its threshold sits higher.

Centring on the box centre (rather than MoveMirror's top-left corner) keeps the vectors from
sharing one large positive offset, which made every pair of poses look alike (measured on the
shared images: corner 0.86-0.95 cosine between different poses, centre 0.70-0.85).

Mirror invariance compares each pose also with its left-right flip (x negated about the box centre,
left and right keypoints swapped) and keeps the better score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgepose.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

Metric = Literal["weighted", "cosine"]
METRICS: tuple[Metric, ...] = ("weighted", "cosine")

# Each keypoint's left-right counterpart (the nose is its own): a pose seen in a mirror.
FLIP_INDEX: np.ndarray = np.array(
    [
        KEYPOINT_NAMES.index(n.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_"))
        for n in KEYPOINT_NAMES
    ]
)

# 1 − d·√17/2: the distance of a pose to its point reflection, when every keypoint is as far from
# the box centre as the others, is 2/√17; the score reaches 0 there.
_DISTANCE_SCALE = np.sqrt(NUM_KEYPOINTS) / 2.0


@dataclass(frozen=True, slots=True)
class Normalized:
    """Poses reduced for comparison.

    xy: ``(P, 17, 2)`` float64, centred on each pose's keypoint box, each pose's 34 values of unit
        L2 norm (a pose whose keypoints all coincide is all zeros).
    conf: ``(P, 17)`` float64 keypoint confidences in [0, 1].
    """

    xy: np.ndarray
    conf: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)


@dataclass(frozen=True, slots=True)
class Matches:
    """The best library pose of each of P people.

    index: ``(P,)`` int, the library entry (``-1`` when the library is empty).
    score: ``(P,)`` float64 in [0, 1], higher is better (0 when the library is empty).
    mirrored: ``(P,)`` bool, the best score came from the person's mirror image.
    """

    index: np.ndarray
    score: np.ndarray
    mirrored: np.ndarray


def check_poses(keypoints: np.ndarray) -> np.ndarray:
    """``keypoints`` as a float64 ``(P, 17, 3)`` array (one ``(17, 3)`` pose is P = 1); raises otherwise."""
    kp = np.asarray(keypoints)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"poses must be (P, {NUM_KEYPOINTS}, 3) or ({NUM_KEYPOINTS}, 3), got {kp.shape}")
    if not np.issubdtype(kp.dtype, np.floating):
        raise TypeError(f"poses must be floating point, got {kp.dtype}")
    kp = kp.astype(np.float64, copy=False)
    if not np.isfinite(kp).all():
        raise ValueError("poses hold NaN or inf")
    return kp


def normalize(keypoints: np.ndarray) -> Normalized:
    """Translate each pose to the centre of its keypoint box and L2-normalize its 34 coordinates.

    ``keypoints``: ``(P, 17, 3)`` (or one ``(17, 3)``) of ``(x, y, score)`` in any one unit (pixels
    of the source frame, or values already normalized: the result is the same).
    """
    kp = check_poses(keypoints)
    xy = kp[..., :2]
    centre = (xy.min(axis=1, keepdims=True) + xy.max(axis=1, keepdims=True)) / 2.0
    xy = xy - centre
    norm = np.sqrt((xy**2).sum(axis=(1, 2), keepdims=True))
    xy = np.divide(xy, norm, out=np.zeros_like(xy), where=norm > 0)
    return Normalized(xy, np.clip(kp[..., 2], 0.0, 1.0))


def mirror(poses: Normalized) -> Normalized:
    """The left-right mirror image of normalized poses (still centred and of unit norm)."""
    xy = poses.xy[:, FLIP_INDEX].copy()
    xy[..., 0] = -xy[..., 0]
    return Normalized(xy, poses.conf[:, FLIP_INDEX])


def score_matrix(people: Normalized, library: Normalized, metric: Metric = "weighted") -> np.ndarray:
    """``(P, L)`` scores in [0, 1] of every person against every library pose (no mirroring)."""
    if metric == "cosine":
        dot = np.einsum("pkc,lkc->pl", people.xy, library.xy)
        return np.clip(dot, 0.0, 1.0)
    if metric != "weighted":
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    # x and y apart rather than a trailing axis of 2: one pass over (P, L, 17) each, in place.
    dx = people.xy[:, None, :, 0] - library.xy[None, :, :, 0]
    dy = people.xy[:, None, :, 1] - library.xy[None, :, :, 1]
    dx *= dx
    dy *= dy
    dx += dy
    dist = np.sqrt(dx, out=dx)  # (P, L, 17)
    weighted = np.einsum("plk,pk,lk->pl", dist, people.conf, library.conf)
    total = people.conf @ library.conf.T  # Σ_k w_k with w_k = c_person,k · c_library,k
    d = np.divide(weighted, total, out=np.full(total.shape, np.inf), where=total > 0)
    return np.clip(1.0 - d * _DISTANCE_SCALE, 0.0, 1.0)


def similarity(a: np.ndarray, b: np.ndarray, metric: Metric = "weighted", mirrored: bool = False) -> float:
    """The score in [0, 1] (1 = the same shape) of two ``(17, 3)`` poses; see the module's docstring."""
    pa, pb = normalize(a), normalize(b)
    score = score_matrix(pa, pb, metric)[0, 0]
    if mirrored:
        score = max(score, score_matrix(mirror(pa), pb, metric)[0, 0])
    return float(score)


def best_match(people: Normalized, library: Normalized, metric: Metric = "weighted", mirrored: bool = False) -> Matches:
    """Each person's best library pose and its score, all P x L pairs in one pass.

    With ``mirrored`` each person's mirror image is compared too and the better of the two kept.
    Ties go to the lower library index.
    """
    p = len(people)
    if len(library) == 0 or p == 0:
        return Matches(np.full(p, -1, np.int64), np.zeros(p), np.zeros(p, bool))
    if mirrored:  # the people and their mirror images in one pass, then the better of each pair
        both = mirror(people)
        both = Normalized(np.concatenate([people.xy, both.xy]), np.concatenate([people.conf, both.conf]))
        plain, other = np.split(score_matrix(both, library, metric), 2)
        flipped = other > plain
        scores = np.where(flipped, other, plain)
    else:
        scores = score_matrix(people, library, metric)
        flipped = np.zeros_like(scores, bool)
    index = scores.argmax(axis=1)
    rows = np.arange(p)
    return Matches(index, scores[rows, index], flipped[rows, index])
