"""The analysis stage in real runs through the CLI: enter/leave on the walking-crowd video with a
zone across the path, counts without tracking on photos, angles in the documents, meta's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.anchors import anchor_points
from edgepose.analysis.joints import ANGLE_NAMES
from edgepose.analysis.polygon import points_in_polygon
from tests.builders.cli import run_cli
from tests.builders.documents import read_run, validate_document
from tests.builders.paths import POSENET

# A band across the crowd's path (people walk left and right), from the top of the frame to the bottom.
BAND = [[0.4, 0.0], [0.6, 0.0], [0.6, 1.0], [0.4, 1.0]]
MIN_SCORE = 0.3
EDGE_PX = 1.0  # documents round coordinates to 0.01 px; an anchor this close to the line is not judged


def feet(doc: dict) -> dict[int | None, np.ndarray]:
    """Each pose's feet anchor in pixels, by track id."""
    out = {}
    for p in doc["poses"]:
        kp = np.array(p["keypoints"], np.float64)[None]
        out[p["id"]] = anchor_points(kp, np.array([p["box"]]), "feet", MIN_SCORE)[0]
    return out


def side(anchor: np.ndarray | None, doc: dict) -> bool | None:
    """Inside the band (True), outside (False), or too close to its edge to say (None)."""
    if anchor is None:
        return False
    x0, x1 = BAND[0][0] * doc["width"], BAND[1][0] * doc["width"]
    if min(abs(anchor[0] - x0), abs(anchor[0] - x1)) < EDGE_PX:
        return None
    return bool(points_in_polygon(anchor[None] / (doc["width"], doc["height"]), np.array(BAND))[0])


@pytest.fixture(scope="module")
def crowd_run(walking_video: Path, models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crowd") / "run.jsonl"
    zone = f"{{name: path, polygon: {BAND}, enter_after: 0.2, leave_after: 0.2}}"
    proc = run_cli(
        "run",
        "--source",
        str(walking_video),
        "--model",
        str(models_dir / POSENET),
        "--max-frames",
        "150",
        "--sink",
        f"jsonl:{out}",
        "--events",
        "--set",
        "analysis.enabled=true",
        "--set",
        f"analysis.zones=[{zone}]",
        "--set",
        f"analysis.min_keypoint_score={MIN_SCORE}",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_walking_crowd_enters_and_leaves_where_the_tracks_are(crowd_run: Path) -> None:
    poses, events = read_run(crowd_run)
    moves = [e for e in events if e["kind"] in ("zone_enter", "zone_leave")]
    assert sum(e["kind"] == "zone_enter" for e in moves) >= 3 and sum(e["kind"] == "zone_leave" for e in moves) >= 1
    judged = 0
    for event in moves:
        doc = poses[event["frame"]]
        where = side(feet(doc).get(event["track_id"]), doc)
        if where is None:
            continue
        judged += 1
        if event["kind"] == "zone_enter":
            assert where, event  # the track's anchor is in the zone's area on the frame it entered
            np.testing.assert_allclose(
                event["trigger"]["anchor"], feet(doc)[event["track_id"]] / (doc["width"], doc["height"]), atol=1e-3
            )
        else:
            assert not where, event  # ... and outside it (or gone) on the frame it left
    assert judged >= len(moves) - 2


def test_walking_crowd_counts_follow_the_moves_and_every_enter_has_held(crowd_run: Path) -> None:
    poses, events = read_run(crowd_run)
    count, inside = 0, set()
    for event in events:
        if event["kind"] == "zone_enter":
            assert event["track_id"] not in inside and event["trigger"]["held_s"] >= 0.2 - 1e-6
            inside.add(event["track_id"])
        elif event["kind"] == "zone_leave":
            inside.discard(event["track_id"])
        else:
            assert event["previous"] == count and event["count"] == len(inside)
            count = event["count"]
        if event["kind"] != "zone_count":
            assert event["count"] == len(inside)
    # Angles in every pose entry, named as in meta, null or 0..180.
    some = next(p for doc in poses.values() for p in doc["poses"])
    assert list(some["angles"]) == list(ANGLE_NAMES)


def test_photos_are_counted_without_tracks(shared: Path, models_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("posenet_test_image.bmp", "squat.bmp", "posenet_test_image.bmp"):
        target = photos / f"{len(list(photos.iterdir()))}-{name}"
        target.symlink_to(shared / "images" / name)
    out = tmp_path / "run.jsonl"
    whole = "{name: room, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], anchor: box_center, enter_after: 5}"
    proc = run_cli(
        "run",
        "--source",
        str(photos),
        "--model",
        str(models_dir / POSENET),
        "--sink",
        f"jsonl:{out}",
        "--events",
        "--set",
        "analysis.enabled=true",
        "--set",
        f"analysis.zones=[{whole}]",
    )
    assert proc.returncode == 0, proc.stderr
    poses, events = read_run(out)
    assert len(poses) == 3
    assert {e["kind"] for e in events} == {"zone_count"}  # no ids: no enter or leave
    count = 0
    for frame, doc in sorted(poses.items()):
        assert all(p["id"] is None for p in doc["poses"])
        for e in (e for e in events if e["frame"] == frame):
            assert e["track_id"] is None and e["trigger"] == {"kind": "untracked_count", "untracked": e["count"]}
            count = e["count"]
        assert count == len(doc["poses"]), frame  # each photo's count at once, despite enter_after
    assert len({len(d["poses"]) for d in poses.values()}) > 1  # the photos differ, so the count moved


def test_meta_lists_angles_and_zones(models_dir: Path) -> None:
    from edgepose.config import load_config
    from edgepose.documents.meta import meta_document
    from tests.builders.engines import model_free_loaded

    loaded = model_free_loaded(models_dir / "m.tflite")
    config = load_config(None, ["analysis.enabled=true", f"analysis.zones=[{{name: door, polygon: {BAND}}}]"], env={})
    meta = meta_document(config, loaded)
    validate_document(meta, "meta.v1.json")
    assert meta["angles"]["left_knee"] == ["left_hip", "left_knee", "left_ankle"]
    assert meta["angles"]["torso_lean"] == ["mid_shoulder", "mid_hip", "up"]
    assert meta["zones"] == [
        {"name": "door", "camera": "cam0", "polygon": BAND, "anchor": "feet", "enter_after": 0.5, "leave_after": 1.0}
    ]
    plain = meta_document(load_config(None, [], env={}), loaded)
    assert "angles" not in plain and "zones" not in plain


def test_the_overlapped_schedule_gives_the_same_events(walking_video: Path, models_dir: Path, tmp_path: Path) -> None:
    """The stage is fixed per frame in both schedules (like the tracker): the same events, in order."""
    zone = f"{{name: path, polygon: {BAND}, enter_after: 0.2, leave_after: 0.2}}"
    runs = []
    for mode in ("off", "on"):
        out = tmp_path / f"{mode}.jsonl"
        proc = run_cli(
            "run",
            "--source",
            str(walking_video),
            "--model",
            str(models_dir / POSENET),
            "--max-frames",
            "60",
            "--sink",
            f"jsonl:{out}",
            "--events",
            "--set",
            "analysis.enabled=true",
            "--set",
            f"model.overlap='{mode}'",
            "--set",
            f"analysis.zones=[{zone}]",
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        runs.append([{k: v for k, v in e.items() if k != "ts"} for e in read_run(out)[1]])
    assert runs[0] and runs[0] == runs[1]
