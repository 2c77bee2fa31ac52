"""Drawing zones (with their state) and angles: the overlay functions, and `annotate --zones --angles`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.analysis.events import ZoneState
from edgepose.analysis.overlay import EMPTY, OCCUPIED, angles_of, draw_angles, draw_zones
from edgepose.analysis.zones import Zone
from edgepose.keypoints import KP
from edgepose.pose import Pose
from edgepose.sources.files import read_image
from tests.builders.cli import run_cli

GREY = np.full((100, 200, 3), 128, np.uint8)
LEFT = Zone("left", np.array([(0, 0), (0.5, 0), (0.5, 1), (0, 1)], float))
RIGHT = Zone("right", np.array([(0.5, 0), (1, 0), (1, 1), (0.5, 1)], float))


def tint(image: np.ndarray, x: int, y: int) -> np.ndarray:
    return image[y, x].astype(int) - GREY[y, x].astype(int)


def test_zones_are_tinted_by_state_and_the_frame_is_not_touched() -> None:
    states = {"left": ZoneState("left", 2, (1, 2), 0.0, 0), "right": ZoneState("right", 0, (), 0.0, 0)}
    out = draw_zones(GREY, [LEFT, RIGHT], states)
    assert (GREY == 128).all()  # a copy: the pipeline may still use the frame
    left, right = tint(out, 50, 60), tint(out, 150, 60)
    assert np.sign(left).tolist() == np.sign(np.array(OCCUPIED) - 128).tolist()  # towards red
    assert np.sign(right).tolist() == np.sign(np.array(EMPTY) - 128).tolist()  # towards green
    assert (tint(draw_zones(GREY, [LEFT]), 150, 60) == 0).all()  # outside every zone: unchanged


def test_angles_are_written_at_their_joints_only_when_known() -> None:
    kp = np.zeros((17, 3), np.float32)
    kp[KP["left_knee"]] = (60, 60, 1.0)
    pose = Pose(kp, 0.9, (0, 0, 100, 100))
    known = angles_of([{"left_knee": 92.0}])
    assert np.isnan(known[0]).sum() == known.shape[1] - 1
    out = draw_angles(GREY, [pose], known)
    near = out[40:60, 60:100]
    assert (near != 128).any()  # the text is there, just right of and above the knee
    assert (draw_angles(GREY, [pose], angles_of([None])) == GREY).all()  # nothing known: nothing drawn


def test_annotate_draws_zones_and_angles(squat_path: Path, tmp_path: Path) -> None:
    plain, overlaid = tmp_path / "plain.png", tmp_path / "overlaid.png"
    zone = "analysis.zones=[{name: mat, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], enter_after: 0}]"
    assert run_cli("annotate", str(squat_path), str(plain), "--threads", "2").returncode == 0
    proc = run_cli("annotate", str(squat_path), str(overlaid), "--threads", "2", "--zones", "--angles", "--set", zone)
    assert proc.returncode == 0, proc.stderr
    a, b = read_image(plain).astype(int), read_image(overlaid).astype(int)
    h = a.shape[0]
    corner = (slice(h - 12, h - 2), slice(2, 12))  # inside the zone, away from the person
    assert (b[corner][..., 0] - a[corner][..., 0] > 0).all()  # tinted red: the squatting person's feet are in it
    assert (b[: h // 2 - 40] != a[: h // 2 - 40]).any(axis=-1).sum() > 0  # angle labels above the zone


def test_the_preview_draws_the_latest_zone_state_even_from_a_skipped_frame() -> None:
    """The preview samples frames; a zone that changed on a frame it skipped is still drawn as it is now."""
    import dataclasses

    from edgepose.analysis.findings import Analysis
    from edgepose.analysis.overlay import LiveOverlay
    from edgepose.frame import Frame
    from edgepose.pose import FrameResult
    from edgepose.preview.server import LatestFrame
    from edgepose.sources.files import require_cv2

    now = [0.0]
    frames = LatestFrame(max_fps=1, clock=lambda: now[0], overlay=LiveOverlay([LEFT], True, False))
    image = np.full((100, 200, 3), 128, np.uint8)

    def offer(i: int, state: ZoneState | None) -> None:
        frame = Frame(image, i, 0.0, now[0])
        result = FrameResult(i, 0.0, now[0], 200, 100, "cam0", ())
        if state is not None:
            result = dataclasses.replace(result, analysis=Analysis(zones=(state,)))
        frames.offer(frame, result, {})

    offer(0, ZoneState("left", 0, (), 0.0, 0))  # taken: empty
    now[0] = 0.5
    offer(1, ZoneState("left", 1, (4,), 0.5, 1))  # skipped by the rate, but now occupied
    now[0] = 1.5
    offer(2, None)  # taken: no change on this frame
    assert frames.skipped == 1
    frames.start()  # after the offers: frame 2 replaced frame 0 as the one waiting, so it is the one encoded
    try:
        seq, jpeg = frames.wait_newer(0, 10)
    finally:
        frames.stop()
    assert seq == 1 and jpeg is not None
    cv2 = require_cv2()
    drawn = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].astype(int)
    red, green = drawn[60, 50, 0], drawn[60, 50, 1]
    assert red > green + 10  # occupied (red), not empty (green)
