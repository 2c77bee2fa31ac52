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
    xy = xy - (xy.min(axis=1, keepdims=True) + xy.max(axis=1, keepdims=True)) / 2.0
    norm = np.sqrt(np.einsum("pkc,pkc->p", xy, xy))
    xy /= np.where(norm > 0, norm, 1.0)[:, None, None]  # all keypoints on one point: zeros stay zeros
    # A minimum and a maximum: np.clip costs about 1.5 times that on arrays this small (measured).
    return Normalized(xy, np.minimum(np.maximum(kp[..., 2], 0.0), 1.0))


def mirror(poses: Normalized) -> Normalized:
    """The left-right mirror image of normalized poses (still centred and of unit norm)."""
    xy = poses.xy[:, FLIP_INDEX].copy()
    xy[..., 0] = -xy[..., 0]
    return Normalized(xy, poses.conf[:, FLIP_INDEX])


def score_matrix(people: Normalized, library: Normalized, metric: Metric = "weighted") -> np.ndarray:
    """``(P, L)`` scores in [0, 1] of every person against every library pose (no mirroring)."""
    if metric == "cosine":
        dot = np.einsum("pkc,lkc->pl", people.xy, library.xy)
        return np.minimum(np.maximum(dot, 0.0), 1.0)
    if metric != "weighted":
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    # x and y apart rather than a trailing axis of 2: one pass over (P, L, 17) each, in place.
    dx = people.xy[:, None, :, 0] - library.xy[None, :, :, 0]
    dy = people.xy[:, None, :, 1] - library.xy[None, :, :, 1]
    dx *= dx
    dy *= dy
    dx += dy
    dist = np.sqrt(dx, out=dx)  # (P, L, 17)
    dist *= library.conf[None]
    weighted = np.matmul(dist, people.conf[:, :, None])[..., 0]  # Σ_k d_k · c_library,k · c_person,k
    total = people.conf @ library.conf.T  # Σ_k w_k with w_k = c_person,k · c_library,k
    d = np.divide(weighted, total, out=np.full(total.shape, np.inf), where=total > 0)
    return np.minimum(np.maximum(1.0 - d * _DISTANCE_SCALE, 0.0), 1.0)


def similarity(a: np.ndarray, b: np.ndarray, metric: Metric = "weighted", mirrored: bool = False) -> float:
    """The score in [0, 1] (1 = the same shape) of two ``(17, 3)`` poses; see the module's docstring."""
    pa, pb = normalize(a), normalize(b)
    score = score_matrix(pa, pb, metric)[0, 0]
    if mirrored:
        score = max(score, score_matrix(mirror(pa), pb, metric)[0, 0])
    return float(score)


def with_mirrors(library: Normalized) -> Normalized:
    """The library followed by its mirror images (2L poses), for :func:`best_match` with ``mirrored``.

    A person's mirror image against a pose scores what the person scores against the pose's mirror
    image (mirroring is an isometry that is its own inverse, and the weights swap with the
    keypoints), so mirroring the library once replaces mirroring every person of every frame.
    """
    flipped = mirror(library)
    return Normalized(np.concatenate([library.xy, flipped.xy]), np.concatenate([library.conf, flipped.conf]))


def best_match(
    people: Normalized,
    library: Normalized,
    metric: Metric = "weighted",
    mirrored: bool = False,
    library_with_mirrors: Normalized | None = None,
) -> Matches:
    """Each person's best library pose and its score, all P x L pairs in one pass.

    With ``mirrored`` each person's mirror image is compared too and the better of the two kept
    (pass ``library_with_mirrors``, :func:`with_mirrors` of ``library``, to reuse it across frames).
    Ties go to the lower library index, and to the unmirrored pose.
    """
    p, n = len(people), len(library)
    if n == 0 or p == 0:
        return Matches(np.full(p, -1, np.int64), np.zeros(p), np.zeros(p, bool))
    if mirrored:
        both = library_with_mirrors if library_with_mirrors is not None else with_mirrors(library)
        if len(both) != 2 * n:
            raise ValueError(f"library_with_mirrors has {len(both)} poses, not twice the library's {n}")
        scores = score_matrix(people, both, metric)  # (P, 2L): plain, then mirrored
        plain, other = scores[:, :n], scores[:, n:]
        flipped = other > plain
        scores = np.where(flipped, other, plain)
    else:
        scores = score_matrix(people, library, metric)
        flipped = np.zeros_like(scores, bool)
    index = scores.argmax(axis=1)
    rows = np.arange(p)
    return Matches(index, scores[rows, index], flipped[rows, index])
