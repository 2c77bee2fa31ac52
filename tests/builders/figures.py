"""Synthetic people for the behaviour tests: stick figures (17 keypoints in pixels of a 1280x720
frame) on closed-form trajectories, random pose arrays, and squat.bmp turned towards the floor."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from edgepose.keypoints import KP
from edgepose.pose import FrameResult, Pose

FPS = 15.0  # the trajectories' frame rate
H = 300.0  # the person's standing height, pixels
FLOOR = 650.0  # y of the floor in a 1280x720 frame
WIDTH, HEIGHT = 1280.0, 720.0


def direction(angle: float) -> np.ndarray:
    """Unit vector at ``angle`` degrees from image-down towards +x (the way the person faces)."""
    a = math.radians(angle)
    return np.array([math.sin(a), math.cos(a)])


def figure(
    hip: tuple[float, float],
    lean: float = 0.0,
    thigh: float = 0.0,
    shin: float = 0.0,
    height: float = H,
    conf: float = 0.9,
) -> np.ndarray:
    """A stick person's ``(17, 3)`` keypoints in pixels.

    hip: the hip centre. lean: the torso's angle from upright, degrees, positive forward (+x).
    thigh: the thighs' angle from the torso's line, forward positive (90: sitting). shin: the
    shins' angle from the thighs' line (-90 folds them back down). Arms hang along the torso.
    Keypoints outside the 1280x720 frame score 0, as a model gives them.
    """
    hip = np.asarray(hip, float)
    down = direction(-lean)  # along the torso, towards the feet
    up = -down
    side = np.array([up[1], -up[0]])  # across the body
    shoulders = hip + 0.30 * height * up
    nose = shoulders + 0.12 * height * up
    knee_dir = direction(-lean + thigh)
    ankle_dir = direction(-lean + thigh + shin)
    kp = np.zeros((17, 3))

    def put(name: str, xy: np.ndarray) -> None:
        kp[KP[name], :2] = xy

    put("nose", nose)
    for s, sign in (("left", 1.0), ("right", -1.0)):
        put(f"{s}_eye", nose + sign * 0.02 * height * side + 0.02 * height * up)
        put(f"{s}_ear", nose + sign * 0.05 * height * side)
        sh = shoulders + sign * 0.10 * height * side
        put(f"{s}_shoulder", sh)
        put(f"{s}_elbow", sh + 0.17 * height * down)
        put(f"{s}_wrist", sh + 0.32 * height * down)
        hp = hip + sign * 0.07 * height * side
        put(f"{s}_hip", hp)
        knee = hp + 0.25 * height * knee_dir
        put(f"{s}_knee", knee)
        put(f"{s}_ankle", knee + 0.25 * height * ankle_dir)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] <= WIDTH) & (kp[:, 1] >= 0) & (kp[:, 1] <= HEIGHT)
    kp[:, 2] = np.where(inside, conf, 0.0)
    return kp


def standing_hip(x: float, height: float = H) -> tuple[float, float]:
    return (x, FLOOR - 0.5 * height)


def planted(feet_x: float, lean: float, thigh: float, shin: float, height: float = H) -> np.ndarray:
    """:func:`figure` with the hips placed so that the ankles stand on the floor at ``feet_x``."""
    leg = 0.25 * height * (direction(-lean + thigh) + direction(-lean + thigh + shin))
    return figure((feet_x - leg[0], FLOOR - leg[1]), lean, thigh, shin, height)


def ease(u: float) -> float:
    """0 -> 1 smoothly over u in [0, 1]."""
    u = min(max(u, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * u)


def stand(t: float, x: float = 640.0) -> np.ndarray:
    """Standing still at ``x``, whatever the time ``t``."""
    return figure(standing_hip(x))


def pendulum(x: float, lean: float) -> np.ndarray:
    """Falling stiff as a plank about the feet: the hips on a circle of radius H/2 around the ankles."""
    a = math.radians(lean)
    return figure((x - 0.5 * H * math.sin(a) * -1, FLOOR - 0.5 * H * math.cos(a)), lean)


def fall_forward(t: float, start: float = 2.0, duration: float = 0.8, sign: float = 1.0) -> np.ndarray:
    """Standing, then toppling forward (sign -1: backwards) over `duration` s onto the floor, lying on."""
    return pendulum(640.0, sign * 90.0 * ease((t - start) / duration))


def fall_and_get_up(t: float) -> np.ndarray:
    """Falls at 2 s, lies for 4 s, gets up over 1.5 s at 6.8 s, stands."""
    if t < 6.8:
        return fall_forward(t)
    return pendulum(640.0, 90.0 * (1.0 - ease((t - 6.8) / 1.5)))


def walking(t: float) -> np.ndarray:
    """Across the frame at 1.2 m/s-ish: a hip bob of 2 % H at 2 Hz, the torso within 8 degrees, legs swinging."""
    x = 100.0 + 120.0 * t
    swing = 25.0 * math.sin(2 * math.pi * 1.0 * t)
    bob = 0.02 * H * math.sin(2 * math.pi * 2.0 * t)
    return figure((x, FLOOR - 0.5 * H + bob), lean=5 + 3 * math.sin(2 * math.pi * t), thigh=swing, shin=-abs(swing) / 2)


def toppled(squat: np.ndarray, angle: float, size: int = 1000) -> np.ndarray:
    """squat.bmp on a larger canvas, turned ``angle`` degrees clockwise about the feet and moved
    down with it (at 90 degrees by the canvas's spare height)."""
    import cv2

    h, w = squat.shape[:2]
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = squat[5, 5]
    left = (size - w) // 2
    canvas[:h, left : left + w] = squat
    feet = (left + 190.0, 530.0)  # between the ankles in squat.bmp
    m = cv2.getRotationMatrix2D(feet, -angle, 1.0)
    m[1, 2] += (size - h) * angle / 90.0
    return cv2.warpAffine(
        canvas, m, (size, size), borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(map(int, squat[5, 5]))
    )


# Frames at 10 fps: 1 s as photographed, 0.6 s toppling to 75 degrees, then 3 s lying there.
TOPPLE = [0.0] * 10 + [12.5, 25.0, 37.5, 50.0, 62.5, 75.0] + [75.0] * 30


# When the pose library's entries are saved.
NOW = datetime(2026, 12, 1, 23, 40, tzinfo=UTC)


def random_poses(n: int, seed: int) -> np.ndarray:
    """Poses with about a third of the keypoints below 0.3, a few on the same pixel, some all hidden."""
    rng = np.random.default_rng(seed)
    kp = np.empty((n, 17, 3))
    kp[..., :2] = rng.integers(0, 40, (n, 17, 2)) * 10.0  # a coarse grid: coincident keypoints happen
    kp[..., 2] = rng.uniform(0, 1, (n, 17))
    kp[: n // 10, :, 2] = 0.1  # nobody visible
    return kp


def poses_of(ts: float, ids: list[int | None]) -> list[Pose]:
    """A walker, a faller, and a person squatting every 2 s (knee angle 180 -> 80 -> 180)."""
    squat = walking(0.0)
    depth = 0.5 - 0.5 * math.cos(math.pi * ts)
    squat[[13, 14], 0] += 90 * depth  # knees 90 px forward of 75 px limbs: the knee closes to 80 degrees
    kps = [walking(ts), fall_forward(ts), squat]
    return [Pose(k.astype(np.float32), 0.9, (0, 0, 1, 1), i) for k, i in zip(kps, ids, strict=True)]


def frame_at(ts: float, poses: list[Pose], index: int = 0) -> FrameResult:
    """``poses`` as a frame of the figures' 1280x720 camera, ``ts`` on the monotonic clock (its
    capture time 1.8e9 s later)."""
    return FrameResult(index, 1.8e9 + ts, ts, int(WIDTH), int(HEIGHT), "cam0", tuple(poses))
