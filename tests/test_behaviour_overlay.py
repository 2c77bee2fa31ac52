"""Drawing the behaviours: each person's matched pose, counts and FALL above their box (a red box
while down), in annotate --behaviours and the preview's overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.events import FallState
from edgepose.analysis.overlay import FALLEN, LiveOverlay, behaviour_labels, draw_behaviours
from edgepose.pose import Pose
from edgepose.viz import Style
from tests.builders.cli import run_cli

pytest.importorskip("cv2")


def person(track: int | None, x0: float = 100.0) -> Pose:
    kp = np.zeros((17, 3), np.float32)
    return Pose(kp, 0.9, (x0, 100.0, x0 + 80.0, 300.0), track)


@pytest.mark.parametrize(
    ("match", "reps", "down", "lines"),
    [
        (None, None, False, []),
        ({"pose": "tree", "score": 0.934}, None, False, ["tree 0.93"]),
        (None, {"squat": 3, "curl": 0}, True, ["FALL", "squat 3  curl 0"]),
        ({"pose": "t", "score": 1.0}, {"squat": 1}, False, ["t 1.00", "squat 1"]),
    ],
)
def test_labels(match, reps, down, lines) -> None:
    assert behaviour_labels(match, reps, down) == lines


def test_labels_sit_above_the_box_and_a_fallen_person_is_boxed_in_red() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    poses = [person(1, 50.0), person(2, 250.0)]
    out = draw_behaviours(image, poses, [{"pose": "tree", "score": 0.9}, None], [{"squat": 2}, {"squat": 0}], down=[2])
    assert not image.any()  # a copy
    above = out[60:100]
    assert above[:, 50:130].any() and above[:, 250:330].any()  # each person's labels above their box
    assert not out[120:280, 60:120].any()  # nothing drawn inside the first box
    edge = out[100:300, 249:252].reshape(-1, 3)
    assert (edge == FALLEN).all(axis=1).mean() > 0.5  # the fallen one's box in red
    assert not (out[100:300, 49:52].reshape(-1, 3) == FALLEN).all(axis=1).any()  # the other's not


def test_the_preview_overlay_draws_the_falls_it_noted() -> None:
    from edgepose.analysis.findings import Analysis

    overlay = LiveOverlay([], with_zones=False, with_angles=False, with_behaviours=True)
    overlay.note(Analysis(falls=FallState((3,), 0.0, 0), falls_changed=True))
    assert overlay.down() == (3,)
    image = np.zeros((400, 400, 3), np.uint8)
    drawn = overlay.draw(image, [person(3)], Analysis(), {}, Style(boxes=False))
    assert (drawn[100:300, 99:102].reshape(-1, 3) == FALLEN).all(axis=1).mean() > 0.5


def test_annotate_behaviours_writes_the_match_over_squat_bmp(
    tmp_path: Path, squat_path: Path, movenet_path: Path
) -> None:
    import cv2

    library = tmp_path / "poses"
    assert (
        run_cli(
            "poses",
            "add",
            "squat",
            str(squat_path),
            "--library",
            str(library),
            "--model",
            str(movenet_path),
            timeout=300,
        ).returncode
        == 0
    )
    plain, labelled = tmp_path / "plain.png", tmp_path / "labelled.png"
    on = [
        "analysis.enabled=true",
        "analysis.behaviours.match.enabled=true",
        f"analysis.behaviours.match.library={library}",
    ]
    common = ["--model", str(movenet_path), *(a for item in on for a in ("--set", item))]
    assert run_cli("annotate", str(squat_path), str(plain), *common, timeout=300).returncode == 0
    proc = run_cli("annotate", str(squat_path), str(labelled), "--behaviours", *common, timeout=300)
    assert proc.returncode == 0, proc.stderr
    a, b = cv2.imread(str(plain)), cv2.imread(str(labelled))
    assert a.shape == b.shape and (a != b).any()
    off = run_cli("annotate", str(squat_path), str(tmp_path / "x.png"), "--behaviours", "--model", str(movenet_path))
    assert off.returncode == 78 and "no behaviour is enabled" in off.stderr
