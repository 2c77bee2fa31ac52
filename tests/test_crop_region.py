"""MoveNet's crop-region tracking on a video of a person moving, made from the shared image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode.crop_region import (
    BODY_EXPANSION,
    TORSO_EXPANSION,
    TORSO_JOINTS,
    next_crop_region,
    torso_visible,
)
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.preprocess import Region, full_region
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.keypoints import KP
from edgepose.sources.video import VideoFileSource

CANVAS_W, CANVAS_H = 1280, 720
PERSON_H = 330  # the person is small in the frame: where the crop region helps
FRAMES = 24


def person_positions() -> list[int]:
    """Left edge of the person in each frame: walking right across the frame."""
    return [int(40 + i * (CANVAS_W - 400) / (FRAMES - 1)) for i in range(FRAMES)]


def scale_of(squat_rgb: np.ndarray) -> float:
    return PERSON_H / squat_rgb.shape[0]


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory: pytest.TempPathFactory, squat_rgb: np.ndarray) -> Path:
    scale = scale_of(squat_rgb)
    person = cv2.resize(squat_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path = tmp_path_factory.mktemp("video") / "moving.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (CANVAS_W, CANVAS_H))
    for x in person_positions():
        canvas = np.full((CANVAS_H, CANVAS_W, 3), 90, np.uint8)
        canvas[200 : 200 + person.shape[0], x : x + person.shape[1]] = person
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def run_video(path: Path, movenet_path: Path, crop: bool):
    estimator = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig(crop_region=crop))
    source = VideoFileSource(path)
    source.open()
    keypoints, regions = [], []
    while (frame := source.read()) is not None:
        regions.append(estimator.region_for(frame, continuous=True))
        result = estimator.estimate(frame, continuous=True)
        keypoints.append(result.poses[0].keypoints if result.poses else None)
    source.close()
    return keypoints, regions


def test_crop_follows_the_person_and_agrees_with_full_frame(
    moving_video: Path, movenet_path: Path, squat_rgb: np.ndarray
) -> None:
    # Where the person really is: the model's keypoints on the original image, moved and scaled
    # exactly as the video was made.
    still = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig())
    base = still.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses[0].keypoints
    cropped, regions = run_video(moving_video, movenet_path, crop=True)
    full, full_regions = run_video(moving_video, movenet_path, crop=False)
    assert len(cropped) == len(full) == FRAMES
    whole = full_region(CANVAS_W, CANVAS_H, 192, 192)
    assert all(r == whole for r in full_regions)
    assert regions[0] == whole  # nothing known before the first frame

    followed = 0
    errors, crop_truth, full_truth = [], [], []
    for i in range(1, FRAMES):
        r = regions[i]
        if r == whole:
            continue
        followed += 1
        # The crop is much smaller than the frame and centred near the person's hips.
        assert r.w < 0.75 * whole.w
        kp = full[i]
        hip_x = (kp[KP["left_hip"], 0] + kp[KP["right_hip"], 0]) / 2
        assert r.x < hip_x < r.x + r.w
        good = (cropped[i][:, 2] > 0.3) & (kp[:, 2] > 0.3)
        errors.append(np.abs(cropped[i][good, :2] - kp[good, :2]).mean())
        truth = base[:, :2] * scale_of(squat_rgb) + [person_positions()[i], 200]
        seen = base[:, 2] > 0.3
        crop_truth.append(np.abs(cropped[i][seen, :2] - truth[seen]).mean())
        full_truth.append(np.abs(kp[seen, :2] - truth[seen]).mean())
    assert followed >= FRAMES - 3, "the crop region should track the person in almost every frame"
    # Within tolerance of the full-frame run (which, on a person this small, is itself about 5%
    # of their height off): mean under 8% of the person's height.
    assert np.mean(errors) < 0.08 * PERSON_H, errors
    # And closer to where the person really is than the full-frame run: the reason for cropping.
    assert np.mean(crop_truth) < 0.03 * PERSON_H, crop_truth
    assert np.mean(crop_truth) < np.mean(full_truth)
    # The crop moves right with the person.
    centres = [r.x + r.w / 2 for r in regions[1:] if r != whole]
    assert centres[-1] - centres[0] > 0.5 * (person_positions()[-1] - person_positions()[0])


def test_crop_region_falls_back_when_the_torso_is_hidden() -> None:
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = 100
    assert not torso_visible(kp)
    assert next_crop_region(kp, 640, 480) == full_region(640, 480, 1, 1)
    assert next_crop_region(None, 640, 480) == full_region(640, 480, 1, 1)


def test_body_range_uses_every_torso_joint() -> None:
    """A far-off left shoulder widens the crop even when it is not the last torso joint checked."""
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = 0.0
    for name, (x, y) in {"left_hip": (300, 300), "right_hip": (340, 300), "right_shoulder": (340, 250)}.items():
        kp[KP[name]] = (x, y, 0.9)
    kp[KP["left_shoulder"]] = (200, 150, 0.9)  # far from the hips' centre
    r = next_crop_region(kp, 1280, 720)
    half = r.w / 2
    assert half == pytest.approx(150 * 1.9)  # |320 - 200| = 120 in x, |300 - 150| = 150 in y


def test_crop_follows_a_person_whose_pose_score_is_under_the_threshold(moving_video: Path, movenet_path: Path) -> None:
    """The crop decision uses keypoint scores (torso visible), not the reported pose's score."""
    estimator = PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig(min_pose_score=0.99))
    source = VideoFileSource(moving_video)
    source.open()
    first = source.read()
    second = source.read()
    source.close()
    assert estimator.estimate(first, continuous=True).poses == ()  # nothing reported ...
    whole = full_region(CANVAS_W, CANVAS_H, 192, 192)
    assert estimator.region_for(second, continuous=True).w < 0.75 * whole.w  # ... yet the crop follows


def crop_region_by_arrays(keypoints: np.ndarray, width: int, height: int, min_score: float = 0.2) -> Region:
    """The crop region as NumPy computes it on the arrays: the definition the scalar code is held to."""
    whole = full_region(width, height, 1, 1)
    if not torso_visible(keypoints, min_score):
        return whole
    cx = float((keypoints[KP["left_hip"], 0] + keypoints[KP["right_hip"], 0]) / 2)
    cy = float((keypoints[KP["left_hip"], 1] + keypoints[KP["right_hip"], 1]) / 2)
    torso = keypoints[list(TORSO_JOINTS)]
    torso_y = float(np.abs(cy - torso[:, 1]).max())
    torso_x = float(np.abs(cx - torso[:, 0]).max())
    seen = keypoints[keypoints[:, 2] > min_score]
    body_y = float(np.abs(cy - seen[:, 1]).max()) if len(seen) else 0.0
    body_x = float(np.abs(cx - seen[:, 0]).max()) if len(seen) else 0.0
    half = max(torso_x * TORSO_EXPANSION, torso_y * TORSO_EXPANSION, body_y * BODY_EXPANSION, body_x * BODY_EXPANSION)
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2 or half <= 0:
        return whole
    return Region(cx - half, cy - half, 2 * half, 2 * half)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_crop_region_is_the_array_forms_to_the_last_bit(dtype: type) -> None:
    """The scalar code rounds where NumPy rounds, so the cut (and every document after it) is unchanged."""
    rng = np.random.default_rng(7)
    differing = []
    cropped = 0
    for i in range(3000):
        kp = np.empty((17, 3), dtype)
        scale = float(rng.choice([1.0, 40.0, 400.0, 3000.0]))
        kp[:, 0] = rng.normal(640, scale, 17)
        kp[:, 1] = rng.normal(360, scale, 17)
        kp[:, 2] = rng.random(17)
        width, height = (1280, 720) if i % 3 else (641, 1079)
        got = next_crop_region(kp, width, height)
        want = crop_region_by_arrays(kp, width, height)
        cropped += got != full_region(width, height, 1, 1)
        if (got.x, got.y, got.w, got.h) != (want.x, want.y, want.w, want.h):
            differing.append((i, got, want))
    assert differing == []
    assert cropped > 500  # most draws see a torso and give a region of their own, not the whole frame


def test_the_followed_keypoints_are_the_decoded_poses_and_overflow_is_refused(movenet_path: Path) -> None:
    """The exact crop moves on from :meth:`followed_keypoints` before the pose is built: they must be
    the keypoints :meth:`decode_frame` gives, and a value that overflows on the way to source pixels
    must fail the frame before any crop region is computed from it."""
    from edgepose.decode.movenet_single import MoveNetSingleDecoder
    from edgepose.errors import FrameError

    spec = LiteRtEngine(read_model(movenet_path), threads=1).outputs[0]
    decoder = MoveNetSingleDecoder(spec, DecoderConfig())
    region = Region(100.0, 50.0, 400.0, 400.0)
    rng = np.random.default_rng(3)
    for _ in range(20):
        raw = rng.random((1, 1, 17, 3)).astype(np.float32)
        keypoints = decoder.followed_keypoints([raw], region)
        decoded = decoder.decode_frame([raw], region)
        assert decoded.anchor is not None
        np.testing.assert_array_equal(keypoints, decoded.anchor.keypoints)
        rest = decoder.decoded_from(keypoints)
        assert [(p.score, p.box) for p in rest.poses] == [(p.score, p.box) for p in decoded.poses]
    huge = np.full((1, 1, 17, 3), 3e38, np.float32)  # finite, but times the region's 400 px it is not
    with pytest.raises(FrameError, match="out of range"):
        decoder.followed_keypoints([huge], region)
