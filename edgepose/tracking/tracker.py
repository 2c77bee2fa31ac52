"""Stable person ids across frames: greedy matching of poses to tracks by a similarity.

Times are **seconds on the monotonic clock** (the frames' capture time, ``Frame.mono``)
everywhere in this module: ages, expiry and the One Euro filter all read the same unit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edgepose.pose import FrameResult, Pose, box_from_keypoints, boxes_from_keypoints
from edgepose.tracking.similarity import FEW_PAIRS, iou_matrix, oks_few, oks_matrix
from edgepose.tracking.smoothing import DEFAULT_PARAMS, OneEuroFilter, OneEuroParams, filter_all


@dataclass
class Track:
    """One person being followed. ``keypoints`` are the last *raw* detection (matching uses them)."""

    id: int
    keypoints: np.ndarray  # (17, 3) x, y in source pixels, score
    box: tuple[float, float, float, float]
    last_seen: float  # capture time, monotonic seconds
    smoother: OneEuroFilter | None = None


# Fewer tracked poses than this are smoothed one by one: for one or two, stacking costs more than it saves.
SMALL = 3

# Every pose of a frame against every track: a ``(poses, tracks)`` matrix, computed in one pass.
Similarity = Callable[[Sequence[Pose], Sequence[Track]], np.ndarray]


def keypoint_similarity(threshold: float = 0.3, min_keypoints: int = 4) -> Similarity:
    """OKS between each pose and each track's last keypoints (the TF Lite pose tracker's measure)."""

    def similarity(poses: Sequence[Pose], tracks: Sequence[Track]) -> np.ndarray:
        if len(poses) * len(tracks) <= FEW_PAIRS:
            return oks_few([p.keypoints for p in poses], [t.keypoints for t in tracks], threshold, min_keypoints)
        return oks_matrix(
            np.array([p.keypoints for p in poses]).reshape(-1, 17, 3),
            np.array([t.keypoints for t in tracks]).reshape(-1, 17, 3),
            threshold,
            min_keypoints,
        )

    return similarity


def box_similarity() -> Similarity:
    """IoU between each pose's box and each track's last box."""
    return lambda poses, tracks: iou_matrix(np.array([p.box for p in poses]), np.array([t.box for t in tracks]))


def greedy_match(sim: np.ndarray, min_similarity: float) -> list[tuple[int, int]]:
    """Pairs ``(pose, track)`` taken best-first from a ``(poses, tracks)`` similarity matrix.

    Greedy rather than optimal (Hungarian): with a handful of people and a frame every tens of
    milliseconds the best pair is almost always right, and greedy never trades a clear match
    for a better total.
    """
    pairs: list[tuple[int, int]] = []
    if sim.size == 0:
        return pairs
    if sim.size <= FEW_PAIRS:  # Python's sort is stable too: the same order as the argsort below
        flat_values = sim.ravel().tolist()
        order = sorted(range(sim.size), key=lambda k: -flat_values[k])
    else:
        order = np.argsort(-sim, axis=None, kind="stable").tolist()
    used_p: set[int] = set()
    used_t: set[int] = set()
    for flat in order:
        p, t = divmod(flat, sim.shape[1])
        if sim[p, t] < min_similarity:
            break
        if p in used_p or t in used_t:
            continue
        pairs.append((p, t))
        used_p.add(p)
        used_t.add(t)
    return pairs


@dataclass
class TrackerCounts:
    started: int = 0  # tracks created (ids handed out)
    ended: int = 0  # tracks expired after max age
    untracked: int = 0  # poses left without an id: max_tracks people were all seen in the same frame


class PoseTracker:
    """Assigns ``Pose.id`` and (optionally) smooths keypoints per track with a One Euro filter."""

    def __init__(
        self,
        similarity: Similarity,
        min_similarity: float,
        max_tracks: int = 18,
        max_age: float = 1.0,
        smoothing: OneEuroParams | None = DEFAULT_PARAMS,
        box_min_score: float = 0.2,
    ) -> None:
        self.similarity = similarity
        self.min_similarity = min_similarity
        self.max_tracks = max_tracks
        self.max_age = max_age  # seconds
        self.smoothing = smoothing
        self.box_min_score = box_min_score
        self.tracks: list[Track] = []
        self.counts = TrackerCounts()
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so an old id never names a new person)."""
        self.counts.ended += len(self.tracks)
        self.tracks = []

    def expire(self, t: float) -> None:
        """End tracks unseen for longer than ``max_age``; their filters go with them."""
        alive = [tr for tr in self.tracks if t - tr.last_seen <= self.max_age]
        self.counts.ended += len(self.tracks) - len(alive)
        self.tracks = alive

    def update(self, poses: Sequence[Pose], t: float, width: int, height: int) -> list[Pose]:
        """The poses of one frame captured at ``t`` (monotonic s), with ids and smoothed keypoints."""
        self.expire(t)
        sim = self.similarity(poses, self.tracks).reshape(len(poses), len(self.tracks))
        assigned: dict[int, Track] = {p: self.tracks[k] for p, k in greedy_match(sim, self.min_similarity)}
        out: list[Pose | None] = []
        tracked: list[tuple[int, Track]] = []  # (index in out, its track): smoothed together below
        for i, pose in enumerate(poses):
            track = assigned.get(i)
            if track is None:
                if len(self.tracks) >= self.max_tracks and not self._evict_stalest(t, assigned.values()):
                    self.counts.untracked += 1  # every track was seen in this very frame
                    out.append(pose)
                    continue
                track = Track(self._next_id, pose.keypoints, pose.box, t, self._new_smoother())
                self._next_id += 1
                self.counts.started += 1
                self.tracks.append(track)
            track.keypoints, track.box, track.last_seen = pose.keypoints, pose.box, t
            tracked.append((len(out), track))
            out.append(None)
        for (i, _), smoothed in zip(tracked, self._smoothed_all(poses, tracked, t, width, height), strict=True):
            out[i] = smoothed
        return out  # type: ignore[return-value]  # every None was filled

    def _evict_stalest(self, t: float, matched: Iterable[Track]) -> bool:
        """Full: end the track unseen the longest (not one matched or seen at ``t``), as the TF Lite
        tracker keeps the most recent ones. False when every track belongs to this frame."""
        keep = {id(tr) for tr in matched}
        stale = [tr for tr in self.tracks if tr.last_seen < t and id(tr) not in keep]
        if not stale:
            return False
        self.tracks.remove(min(stale, key=lambda tr: tr.last_seen))
        self.counts.ended += 1
        return True

    def _new_smoother(self) -> OneEuroFilter | None:
        return OneEuroFilter(self.smoothing) if self.smoothing is not None else None

    def _smoothed_all(
        self, poses: Sequence[Pose], tracked: Sequence[tuple[int, Track]], t: float, width: int, height: int
    ) -> list[Pose]:
        """The tracked poses with their ids and, with smoothing on, filtered keypoints and boxes.

        Every track's filter is stepped in one vectorized call (:func:`filter_all`), the boxes in
        another; per pose only the :class:`Pose` itself is built.
        """
        if not tracked:
            return []
        chosen = [poses[i] for i, _ in tracked]
        tracks = [track for _, track in tracked]
        if self.smoothing is None:
            return [p.moved(p.keypoints, p.box, tr.id) for p, tr in zip(chosen, tracks, strict=True)]
        scale = np.array([max(width, 1), max(height, 1)], np.float64)
        if len(chosen) < SMALL:
            return [self._smoothed(p, tr, t, scale) for p, tr in zip(chosen, tracks, strict=True)]
        keypoints = np.array([p.keypoints for p in chosen])  # a copy: the detections stay as they were
        xy = filter_all([tr.smoother for tr in tracks], keypoints[:, :, :2] / scale, t) * scale  # type: ignore[misc]
        keypoints[:, :, :2] = xy
        boxes = boxes_from_keypoints(keypoints, self.box_min_score).tolist()
        return [
            p.moved(keypoints[k], tuple(boxes[k]), tr.id) for k, (p, tr) in enumerate(zip(chosen, tracks, strict=True))
        ]

    def _smoothed(self, pose: Pose, track: Track, t: float, scale: np.ndarray) -> Pose:
        """One pose on its own: what :meth:`_smoothed_all` does for many, with the same results."""
        xy = track.smoother(pose.keypoints[:, :2] / scale, t) * scale  # type: ignore[misc]
        keypoints = pose.keypoints.copy()
        keypoints[:, :2] = xy
        return pose.moved(keypoints, box_from_keypoints(keypoints, self.box_min_score), track.id)


class TrackingStage:
    """The pipeline stage: a tracker applied to whole frame results, in capture order."""

    def __init__(self, tracker: PoseTracker) -> None:
        self.tracker = tracker

    def __call__(self, result: FrameResult) -> FrameResult:
        poses = self.tracker.update(result.poses, result.mono, result.width, result.height)
        return dataclasses.replace(result, poses=tuple(poses))

    def reset(self) -> None:
        self.tracker.reset()
