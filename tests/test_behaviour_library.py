"""The pose library: entries written as readable JSON and read back, names, duplicates, and bad files
reported one by one instead of raised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.behaviours.library import LibraryUsageError, PoseLibrary, entry_from_pose, to_json
from edgepose.analysis.behaviours.similarity import normalize, similarity
from edgepose.errors import InputError
from edgepose.keypoints import KEYPOINT_NAMES
from tests.builders.figures import NOW


def pose(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0, 500, (17, 3))
    kp[:, 2] = rng.uniform(0.3, 1.0, 17)
    return kp


def test_an_entry_round_trips_as_readable_json(tmp_path: Path) -> None:
    library = PoseLibrary(tmp_path / "poses")  # created on the first add
    source = {"image": "/home/pi/tree.jpg", "model": "movenet"}
    path = library.add(entry_from_pose("tree", pose(1), source, NOW, 0.76))
    assert path == tmp_path / "poses" / "tree.json"
    data = json.loads(path.read_text())
    assert data["name"] == "tree" and data["added"] == "2026-12-01T23:40:00Z" and data["source"] == source
    assert list(data["keypoints"]) == list(KEYPOINT_NAMES)
    assert path.read_text().count("\n") < 40  # one line per keypoint, not five
    (entry,) = library.load().entries
    assert similarity(entry.keypoints, pose(1)) == pytest.approx(1.0, abs=1e-4)  # normalized, rounded
    np.testing.assert_allclose(library.load().normalized().xy[0], normalize(pose(1)).xy[0], atol=1e-4)


def test_list_is_sorted_and_remove_deletes(tmp_path: Path) -> None:
    library = PoseLibrary(tmp_path)
    for name, seed in (("warrior-2", 2), ("tree", 3), ("Squat_1", 4)):
        library.add(entry_from_pose(name, pose(seed), {}, NOW))
    assert library.load().names == ("Squat_1", "tree", "warrior-2")
    library.remove("tree")
    assert library.load().names == ("Squat_1", "warrior-2")
    with pytest.raises(InputError, match="no pose named 'tree'"):
        library.remove("tree")


def test_a_taken_name_is_refused_unless_replace(tmp_path: Path) -> None:
    library = PoseLibrary(tmp_path)
    library.add(entry_from_pose("tree", pose(1), {"image": "a"}, NOW))
    with pytest.raises(LibraryUsageError, match="already") as info:
        library.add(entry_from_pose("tree", pose(2), {"image": "b"}, NOW))
    assert info.value.exit_code == 64
    assert library.load().entries[0].source == {"image": "a"}
    library.add(entry_from_pose("tree", pose(2), {"image": "b"}, NOW), replace=True)
    assert library.load().entries[0].source == {"image": "b"}
    assert [p.name for p in tmp_path.iterdir()] == ["tree.json"]  # no temporary file left behind


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".hidden", "has space", "topic+", "x#", "é", "a" * 65, "-x"])
def test_names_must_be_topic_safe(tmp_path: Path, name: str) -> None:
    with pytest.raises(LibraryUsageError, match="not a pose name"):
        entry_from_pose(name, pose(1), {}, NOW)
    with pytest.raises(LibraryUsageError):
        PoseLibrary(tmp_path).remove(name)


def good(name: str) -> dict:
    return to_json(entry_from_pose(name, pose(5), {}, NOW))


# (file name, content, the reason given): each is skipped and reported, the good entry still loads.
BAD_FILES = [
    ("empty.json", "", "not JSON"),
    ("cut.json", json.dumps(good("cut"))[:80], "not JSON"),
    ("binary.json", b"\xff\xfe\x00garbage", "not UTF-8"),
    ("list.json", "[1, 2]", "not a JSON object"),
    ("old.json", json.dumps({**good("old"), "schema": "edgepose.pose/0"}), "schema"),
    ("renamed.json", json.dumps(good("other")), "not its file name"),
    ("short.json", json.dumps({**good("short"), "keypoints": {"nose": [0, 0, 1]}}), "missing"),
    (
        "nan.json",
        json.dumps({**good("nan"), "keypoints": {**good("nan")["keypoints"], "nose": [float("nan"), 0, 1]}}),
        "NaN or inf",
    ),  # json writes and reads NaN
    (
        "text.json",
        json.dumps({**good("text"), "keypoints": {key: ["a", 1, 1] for key in KEYPOINT_NAMES}}),
        "not [x, y, confidence]",
    ),
    (
        "conf.json",
        json.dumps({**good("conf"), "keypoints": {key: [0.1, 0.2, 3] for key in KEYPOINT_NAMES}}),
        "confidence outside",
    ),
    (
        "point.json",
        json.dumps({**good("point"), "keypoints": {key: [0.1, 0.2, 1] for key in KEYPOINT_NAMES}}),
        "all at one point",
    ),
    ("bad name.json", json.dumps(good("x")), "file name is not a pose name"),
]


def test_bad_files_are_reported_not_raised(tmp_path: Path) -> None:
    library = PoseLibrary(tmp_path)
    library.add(entry_from_pose("fine", pose(6), {}, NOW))
    for name, content, _ in BAD_FILES:
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (tmp_path / "notes.txt").write_text("not a pose")  # other files are not the library's
    loaded = library.load()
    assert loaded.names == ("fine",)
    reasons = {p.path.name: p.reason for p in loaded.problems}
    assert set(reasons) == {name for name, _, _ in BAD_FILES}
    for name, _, why in BAD_FILES:
        assert why in reasons[name], (name, reasons[name])


def test_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()  # reading it fails with an OSError
    assert "cannot read" in PoseLibrary(tmp_path).load().problems[0].reason


def test_a_missing_library_is_empty_a_file_in_its_place_is_an_error(tmp_path: Path) -> None:
    assert PoseLibrary(tmp_path / "absent").load().entries == ()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        PoseLibrary(tmp_path / "file").load()
