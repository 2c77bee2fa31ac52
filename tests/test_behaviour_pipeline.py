"""The behaviours in real runs through the CLI: a fall made from squat.bmp (turned towards the floor
over frames of a video) through the real model, tracker and analysis stage fires one schema-valid
``fall`` event and sets meta's behaviours; ``edgepose poses add`` then ``edgepose run`` with
matching on puts ``match`` in every pose document; bad behaviour config is refused with exit 78."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents, read_run, validate_document
from tests.builders.figures import toppled

FPS = 30.0
# 1 s as photographed, toppling to 75 degrees over 0.6 s, then 3 s lying there, at 30 fps (a camera's
# rate: at 10 fps the turn moves the person so far between frames that the keypoint tracker loses them).
TOPPLE = [0.0] * 30 + [75.0 * (i + 1) / 18 for i in range(18)] + [75.0] * 90


@pytest.fixture(scope="module")
def fall_video(squat_rgb: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """squat.bmp turned towards the floor over frames (:data:`TOPPLE`), as an MJPEG video."""
    import cv2

    path = tmp_path_factory.mktemp("fall") / "fall.avi"
    frames = {angle: cv2.cvtColor(toppled(squat_rgb, angle), cv2.COLOR_RGB2BGR) for angle in set(TOPPLE)}
    size = next(iter(frames.values())).shape[1::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, size)
    for angle in TOPPLE:
        writer.write(frames[angle])
    writer.release()
    return path


def test_a_fall_through_the_real_model_and_pipeline_fires_one_fall_event(
    fall_video: Path, movenet_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run.jsonl"
    proc = run_cli(
        "run",
        "--source",
        str(fall_video),
        "--model",
        str(movenet_path),
        "--sink",
        f"jsonl:{out}",
        "--events",
        "--set",
        "analysis.enabled=true",
        "--set",
        "analysis.behaviours.falls.enabled=true",
        "--set",
        "analysis.behaviours.reps.enabled=true",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    poses, events = read_run(out)
    assert len(poses) == len(TOPPLE)
    falls = [e for e in events if e["kind"] == "fall"]
    assert [e["kind"] for e in events if e["kind"] in ("fall", "recovered")] == ["fall"], events
    fall = falls[0]
    # The turn starts at 1.0 s and ends at 1.6 s; the event comes down_for (2 s) after lying began.
    t0 = poses[0]["ts"]
    assert 3.0 - 1e-6 <= fall["ts"] - t0 <= 3.6 + 1e-6, fall
    assert fall["track_id"] == poses[fall["frame"]]["poses"][0]["id"]
    assert fall["trigger"]["kind"] == "lying" and fall["trigger"]["lying_s"] >= 2.0 - 1e-6
    x, y = fall["hips"]
    assert 0.0 <= x <= 1.0 and 0.5 <= y <= 1.0  # lying low in the frame
    # Reps were counted (the person never stood up again after the squat: no repetition, a zero count).
    assert all(p["reps"] == {"squat": 0} for doc in poses.values() for p in doc["poses"] if p.get("id") is not None)


def test_meta_lists_the_enabled_behaviours() -> None:
    from edgepose.config import load_config
    from edgepose.documents.meta import analysis_meta
    from tests.builders.mqtt import META

    on = ["analysis.enabled=true", "analysis.behaviours.falls.enabled=true", "analysis.behaviours.reps.enabled=true"]
    config = load_config(None, [*on, "analysis.behaviours.reps.presets=[squat, curl]"])
    meta = {**META, **analysis_meta(config)}
    validate_document(meta, "meta.v1.json")
    assert meta["behaviours"] == ["falls", "reps"] and meta["exercises"] == ["squat", "curl"]
    assert analysis_meta(load_config(None, ["analysis.enabled=true"]))["behaviours"] == []


def test_poses_add_then_a_run_with_matching_puts_match_in_the_documents(
    tmp_path: Path, squat_path: Path, movenet_path: Path
) -> None:
    library = tmp_path / "poses"
    added = run_cli(
        "poses", "add", "squat", str(squat_path), "--library", str(library), "--model", str(movenet_path), timeout=300
    )
    assert added.returncode == 0, added.stderr
    assert (library / "squat.json").is_file()
    proc = run_cli(
        "run",
        "--source",
        str(squat_path),
        "--model",
        str(movenet_path),
        "--set",
        "analysis.enabled=true",
        "--set",
        "analysis.behaviours.match.enabled=true",
        "--set",
        f"analysis.behaviours.match.library={library}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    documents = [d for d in parse_documents(proc.stdout) if d.get("schema") == "edgepose.poses/1"]
    assert documents and documents[0]["poses"]
    for doc in documents:
        validate_document(doc)
    best = documents[0]["poses"][0]["match"]
    assert best["pose"] == "squat" and best["score"] >= 0.99  # the same image: the same shape


def test_matching_with_an_empty_library_is_refused_at_start(
    tmp_path: Path, squat_path: Path, movenet_path: Path
) -> None:
    proc = run_cli(
        "run",
        "--source",
        str(squat_path),
        "--model",
        str(movenet_path),
        "--set",
        "analysis.enabled=true",
        "--set",
        "analysis.behaviours.match.enabled=true",
        "--set",
        f"analysis.behaviours.match.library={tmp_path / 'none'}",
        timeout=300,
    )
    assert proc.returncode == 78, proc.stderr
    assert "analysis.behaviours.match" in proc.stderr and "no usable pose" in proc.stderr


# (extra config, what the error names)
BAD = [
    (["analysis.behaviours.falls.enabled=true"], "behaviours.falls.enabled needs analysis.enabled"),
    (
        ["analysis.enabled=true", "analysis.behaviours.falls.exclude=[bed]"],
        "behaviours.falls.exclude[0]: no zone named 'bed'",
    ),
    (["analysis.enabled=true", "analysis.behaviours.reps.presets=[squat, squat]"], "exercise names repeat"),
    (["analysis.enabled=true", "analysis.behaviours.match.metric=manhattan"], "analysis.behaviours.match.metric"),
]


@pytest.mark.parametrize(("extra", "named"), BAD)
def test_bad_behaviour_config_is_refused_with_its_key(tmp_path: Path, extra: list[str], named: str) -> None:
    config = tmp_path / "edgepose.yaml"
    config.write_text("analysis:\n  zones:\n    - {name: sofa, polygon: [[0, 0], [0.5, 0], [0.5, 0.5]]}\n")
    args = [a for item in extra for a in ("--set", item)]
    proc = run_cli("check-config", "-c", str(config), *args)
    assert proc.returncode == 78, proc.stderr
    assert named in proc.stderr, proc.stderr
