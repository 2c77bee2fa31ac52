"""edgepose eval with the modern families: YOLO-pose (multi-person) and BlazePose (two stages).

Quality gates on the shared OCHuman set (5 people, heavy occlusion), as tests/test_eval.py has for
MoveNet: the AP must be finite and above a floor well under what docs/accuracy.md records, so a
broken mapping back to image pixels or a wrong protocol fails, and noise does not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgepose.pose import Pose
from edgepose.tools.evaluate import coco
from tests.builders.cli import run_cli


@pytest.fixture(scope="module")
def ochuman(shared: Path) -> Path:
    return shared / "keypoints" / "ochuman"


def evaluate(ochuman: Path, model: Path, results: Path, *extra: str) -> tuple[float, str]:
    """(AP as a fraction, the table row) of one `edgepose eval` run, checked for a clean exit."""
    proc = run_cli(
        "eval",
        "--annotations",
        str(ochuman / "test_ochuman.json"),
        "--images",
        str(ochuman),
        "--model",
        str(model),
        "--threads",
        "2",
        "--json",
        str(results),
        "-q",
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith(f"| {model.stem} "))
    ap = float(row.strip("|").split("|")[5]) / 100
    assert math.isfinite(ap)
    return ap, row


def in_image(results: Path, ochuman: Path) -> None:
    """Every detection's keypoints are in image pixels (not the model input's or a crop's): mostly in that image."""
    sizes = {
        i["id"]: (i["width"], i["height"]) for i in json.loads((ochuman / "test_ochuman.json").read_text())["images"]
    }
    for r in json.loads(results.read_text()):
        kp = np.array(r["keypoints"]).reshape(17, 3)
        width, height = sizes[r["image_id"]]
        assert 0 <= np.median(kp[:, 0]) <= width and 0 <= np.median(kp[:, 1]) <= height  # clipped to the edge


def test_yolo_pose_on_whole_images(ochuman: Path, models_dir: Path, tmp_path: Path) -> None:
    ap, row = evaluate(ochuman, models_dir / "yolo11n-pose_320_float32.tflite", tmp_path / "r.json")
    assert "| whole images | 3 | 5 |" in row
    assert ap > 0.15  # 25.2 recorded: unannotated people in these images count as false positives
    in_image(tmp_path / "r.json", ochuman)


def test_yolo_pose_on_person_crops_picks_the_annotated_person(ochuman: Path, models_dir: Path, tmp_path: Path) -> None:
    ap, row = evaluate(
        ochuman, models_dir / "yolo11n-pose_320_float32.tflite", tmp_path / "r.json", "--protocol", "crops"
    )
    assert "| person crops | 3 | 5 |" in row
    assert ap > 0.3  # 45.0 recorded; choosing the best-scoring pose of each crop (a neighbour) gave 4.2
    results = json.loads((tmp_path / "r.json").read_text())
    assert sorted(r["image_id"] for r in results) == [1, 2, 2, 3, 3]  # one detection per annotated person
    in_image(tmp_path / "r.json", ochuman)


def test_blazepose_runs_its_two_stages_on_person_crops(ochuman: Path, models_dir: Path, tmp_path: Path) -> None:
    ap, row = evaluate(ochuman, models_dir / "pose_landmark_full.tflite", tmp_path / "r.json")
    assert "| person crops | 3 | 5 |" in row  # a single-person model: its own protocol by default
    assert ap > 0.2  # 31.4 recorded
    results = json.loads((tmp_path / "r.json").read_text())
    assert all(len(r["keypoints"]) == 51 for r in results)  # COCO's 17 of the 33 landmarks
    in_image(tmp_path / "r.json", ochuman)


def pose(box: tuple[float, float, float, float], score: float) -> Pose:
    return Pose(np.zeros((17, 3), np.float32), score, box)


def test_subject_is_the_pose_on_the_annotated_box_not_the_best_scoring() -> None:
    neighbour, person = pose((0, 0, 40, 100), 0.9), pose((50, 0, 100, 100), 0.6)
    assert coco.subject([neighbour, person], (55, 5, 95, 100)) is person
    twin = pose((50, 0, 100, 100), 0.7)  # the same box: the better score
    assert coco.subject([person, twin], (55, 5, 95, 100)) is twin
    assert coco.subject([], (0, 0, 1, 1)) is None
    assert coco.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert coco.box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_an_unknown_protocol_is_refused(ochuman: Path) -> None:
    proc = run_cli(
        "eval", "--annotations", str(ochuman / "test_ochuman.json"), "--images", str(ochuman), "--protocol", "sideways"
    )
    assert proc.returncode == 64 and "invalid choice: 'sideways'" in proc.stderr and "Traceback" not in proc.stderr
