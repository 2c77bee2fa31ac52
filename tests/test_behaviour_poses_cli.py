"""``edgepose poses add/list/remove`` as a user runs them: the round trip, and each refusal with one
clear line and its exit code (64 usage, 66 input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.builders.cli import assert_clean_error, run_cli

EX_USAGE, EX_NOINPUT = 64, 66


def poses(library: Path, *args: str, **kwargs):
    return run_cli("poses", *args, "--library", str(library), **kwargs)


@pytest.fixture(scope="module")
def library_with_squat(tmp_path_factory, squat_path: Path) -> Path:
    library = tmp_path_factory.mktemp("poses")
    proc = poses(library, "add", "squat", str(squat_path))
    assert proc.returncode == 0, proc.stderr
    return library


def test_add_from_an_image_prints_the_pose_and_stores_it(library_with_squat: Path, squat_path: Path) -> None:
    data = json.loads((library_with_squat / "squat.json").read_text())
    assert data["name"] == "squat" and data["source"]["image"] == str(squat_path.resolve())
    assert data["source"]["model"] == "movenet_single_pose_lightning_ptq" and data["score"] > 0.5
    assert len(data["keypoints"]) == 17


def test_the_round_trip(tmp_path: Path, squat_path: Path) -> None:
    added = poses(tmp_path, "add", "deep-squat", str(squat_path))
    assert added.returncode == 0, added.stderr
    assert "left_knee" in added.stdout and "added 'deep-squat'" in added.stdout  # the pose is shown
    listed = poses(tmp_path, "list")
    assert listed.returncode == 0 and "deep-squat" in listed.stdout and str(squat_path.name) in listed.stdout
    as_json = json.loads(poses(tmp_path, "list", "--json").stdout)
    assert [p["name"] for p in as_json["poses"]] == ["deep-squat"] and as_json["problems"] == []
    again = poses(tmp_path, "add", "deep-squat", str(squat_path))
    assert_clean_error(again, EX_USAGE, "already", "--replace")
    assert poses(tmp_path, "add", "deep-squat", str(squat_path), "--replace").returncode == 0
    removed = poses(tmp_path, "remove", "deep-squat")
    assert removed.returncode == 0, removed.stderr
    assert "no poses" in poses(tmp_path, "list").stdout
    assert_clean_error(poses(tmp_path, "remove", "deep-squat"), EX_NOINPUT, "no pose named 'deep-squat'")


def write_jsonl(path: Path, library_pose: dict) -> None:
    """Two schema v1 documents: a frame with no one, then one with two people (the second scores best)."""
    keypoints = [[100 + 40 * x, 100 + 40 * y, c] for x, y, c in library_pose["keypoints"].values()]
    weak = [[x + 5, y, 0.1] for x, y, _ in keypoints]
    base = {
        "schema": "edgepose.poses/1",
        "device": "pi",
        "camera": "cam0",
        "ts": 0.0,
        "width": 640,
        "height": 480,
        "model": "recorded",
        "accelerator": "cpu",
    }
    docs = [
        {**base, "frame": 0, "poses": []},
        {
            **base,
            "frame": 1,
            "poses": [
                {"id": 1, "score": 0.2, "box": [0, 0, 10, 10], "keypoints": weak},
                {"id": 2, "score": 0.8, "box": [60, 60, 140, 140], "keypoints": keypoints},
            ],
        },
    ]
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))


def test_add_from_a_jsonl_line(tmp_path: Path, library_with_squat: Path) -> None:
    recording = tmp_path / "poses.jsonl"
    write_jsonl(recording, json.loads((library_with_squat / "squat.json").read_text()))
    library = tmp_path / "lib"
    proc = poses(library, "add", "from-recording", f"{recording}:2")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((library / "from-recording.json").read_text())
    assert data["source"] == {"jsonl": str(recording.resolve()), "line": 2, "frame": 1, "model": "recorded"}
    assert data["score"] == 0.8  # the best pose of the line
    squat = json.loads((library_with_squat / "squat.json").read_text())
    got = np.array(list(data["keypoints"].values()))
    want = np.array(list(squat["keypoints"].values()))
    np.testing.assert_allclose(got, want, atol=1e-3)  # the same shape, whatever its place and size
    assert_clean_error(poses(library, "add", "empty", f"{recording}:1"), EX_NOINPUT, ":1: no pose found")
    assert_clean_error(poses(library, "add", "past", f"{recording}:9"), EX_NOINPUT, ":9: no such line")
    (tmp_path / "junk.jsonl").write_text("{not json\n")
    assert_clean_error(poses(library, "add", "junk", f"{tmp_path / 'junk.jsonl'}:1"), EX_NOINPUT, "not JSON")
    assert_clean_error(poses(library, "add", "gone", f"{tmp_path / 'absent.jsonl'}:1"), EX_NOINPUT, "not found")


def test_no_pose_or_a_weak_pose_is_refused(tmp_path: Path, squat_path: Path) -> None:
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 128, np.uint8))  # a grey wall: nobody there
    assert_clean_error(poses(tmp_path, "add", "nobody", str(blank)), EX_NOINPUT, "no pose found")
    weak = poses(tmp_path, "add", "weak", str(squat_path), "--min-score", "0.95")
    assert_clean_error(weak, EX_NOINPUT, "scores 0.", "below --min-score 0.95")
    few = poses(
        tmp_path, "add", "few", str(squat_path), "--min-keypoints", "17", "--set", "decoder.min_keypoint_score=0.7"
    )
    assert_clean_error(few, EX_NOINPUT, "fewer than --min-keypoints 17")
    assert not list(tmp_path.glob("*.json"))  # nothing was stored


def test_bad_names_and_inputs(tmp_path: Path, squat_path: Path) -> None:
    assert_clean_error(poses(tmp_path, "add", "a/b", str(squat_path)), EX_USAGE, "not a pose name")
    assert_clean_error(poses(tmp_path, "add", "x", str(tmp_path / "absent.jpg")), EX_NOINPUT, "absent.jpg")
    (tmp_path / "fake.jpg").write_text("not an image")
    assert_clean_error(poses(tmp_path, "add", "x", str(tmp_path / "fake.jpg")), EX_NOINPUT, "fake.jpg")
    proc = run_cli("poses", "add", "x")
    assert proc.returncode == EX_USAGE and "INPUT" in proc.stderr


def test_list_reports_a_corrupt_entry_and_remove_clears_it(tmp_path: Path, library_with_squat: Path) -> None:
    (tmp_path / "squat.json").write_text((library_with_squat / "squat.json").read_text())
    (tmp_path / "broken.json").write_text('{"schema": "edgepose.pose/1", "name": "broken", ')
    proc = poses(tmp_path, "list")
    assert_clean_error(proc, EX_NOINPUT, "1 file(s)", "broken.json: not JSON")
    assert "squat" in proc.stdout  # the good entries are still listed
    assert poses(tmp_path, "remove", "broken").returncode == 0
    assert poses(tmp_path, "list").returncode == 0


def test_the_configured_library_is_the_one_used(tmp_path: Path, squat_path: Path) -> None:
    """Without --library the commands use analysis.behaviours.match.library, where the daemon reads it."""
    configured = tmp_path / "configured"
    setting = ["--set", f"analysis.behaviours.match.library={configured}"]
    added = run_cli("poses", "add", "squat", str(squat_path), *setting)
    assert added.returncode == 0, added.stderr
    assert (configured / "squat.json").is_file()
    assert "squat" in run_cli("poses", "list", *setting).stdout
