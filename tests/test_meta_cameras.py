"""The meta and stats documents of a daemon with several cameras: meta lists every camera (``camera``
the first) and each camera's zones with their camera; stats adds each camera's own figures. Both
validate against the committed schemas; with one camera neither has anything new but zones' camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.documents.meta import meta_document
from edgepose.documents.stats import CAMERA_FIGURES, stats_document
from edgepose.stats import RunStats
from tests.builders.documents import validate_document
from tests.builders.engines import model_free_loaded

TWO = "cameras={front: {source: {uri: front.mp4}}, garden: {source: {uri: garden.mp4}}}"
DOOR = "{name: door, camera: front, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}"
ALL = "{name: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], anchor: hips}"


def config(*extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, ["device_id=pi-7", *extra], env={})


def test_meta_lists_every_camera_and_each_cameras_zones(models_dir: Path) -> None:
    meta = meta_document(
        config(TWO, "analysis.enabled=true", f"analysis.zones=[{DOOR}, {ALL}]"),
        model_free_loaded(models_dir / "m.tflite"),
    )
    validate_document(meta, "meta.v1.json")
    assert meta["cameras"] == ["front", "garden"] and meta["camera"] == "front"
    assert [(z["camera"], z["name"]) for z in meta["zones"]] == [("front", "door"), ("front", "all"), ("garden", "all")]
    assert meta["zones"][2]["anchor"] == "hips"


def test_meta_of_one_camera(models_dir: Path) -> None:
    meta = meta_document(
        config("source.camera=door", "analysis.enabled=true", f"analysis.zones=[{ALL}]"),
        model_free_loaded(models_dir / "m.tflite"),
    )
    validate_document(meta, "meta.v1.json")
    assert meta["cameras"] == ["door"] and meta["camera"] == "door"
    assert [(z["camera"], z["name"]) for z in meta["zones"]] == [("door", "all")]


def test_stats_have_each_cameras_figures_beside_the_totals() -> None:
    stats = RunStats(started_mono=100.0)
    for name, frames, people in (("front", 30, 2), ("garden", 10, 0)):
        camera = stats.camera(name)
        camera.count("captured", frames + 1)
        camera.count("processed", frames)
        camera.people = people
    stats.camera("garden").count("skipped")
    stats.camera("garden").fail("a bad frame")
    doc = stats_document(
        config(TWO),
        stats,
        110.0,
        1.8e9,
        {"cpu_temperature_c": None, "throttled": None, "rss_bytes": 1},
        {"connected": 1, "queue_depth": 0, "published": 3, "dropped": 0, "skipped_policy": 0, "reconnects": 0},
    )
    validate_document(doc, "stats.v1.json")
    assert doc["camera"] == "front" and doc["processed"] == stats.processed  # the totals, as before
    assert set(doc["cameras"]) == {"front", "garden"}
    assert doc["cameras"]["front"] == {
        "captured": 31,
        "processed": 30,
        "skipped": 0,
        "failed": 0,
        "people": 2,
        "processed_fps": 3.0,
    }
    assert doc["cameras"]["garden"] == {
        "captured": 11,
        "processed": 10,
        "skipped": 1,
        "failed": 1,
        "people": 0,
        "processed_fps": 1.0,
    }
    assert tuple(doc["cameras"]["front"]) == CAMERA_FIGURES
    stats.drop_camera("garden")  # removed by a reload: gone from the document
    assert set(stats_document(config(TWO), stats, 110.0, 1.8e9, {}, {})["cameras"]) == {"front"}


def test_stats_of_one_camera_have_no_cameras() -> None:
    doc = stats_document(config(), RunStats(started_mono=1.0), 2.0, 1.8e9, {}, {})
    assert "cameras" not in doc and doc["camera"] == "cam0"
    stats = RunStats(started_mono=1.0)
    stats.camera("front").count("processed")  # a one-entry cameras: map keeps the camera's figures: the totals
    doc = stats_document(config("cameras={front: {source: {uri: front.mp4}}}"), stats, 2.0, 1.8e9, {}, {})
    assert "cameras" not in doc and doc["camera"] == "front"


@pytest.mark.parametrize(
    "bad",
    [
        {"front": {"captured": -1}},
        {
            "front": {
                "captured": 1,
                "processed": 1,
                "skipped": 0,
                "failed": 0,
                "people": 0,
                "processed_fps": 0.1,
                "extra": 1,
            }
        },
    ],
)
def test_the_stats_schema_refuses_malformed_camera_figures(bad: dict) -> None:
    import jsonschema

    doc = stats_document(
        config(),
        RunStats(started_mono=1.0),
        2.0,
        1.8e9,
        {"cpu_temperature_c": None, "throttled": None, "rss_bytes": 1},
        {"connected": 1, "queue_depth": 0, "published": 0, "dropped": 0, "skipped_policy": 0, "reconnects": 0},
    )
    validate_document(doc, "stats.v1.json")
    with pytest.raises(jsonschema.ValidationError):
        validate_document({**doc, "cameras": bad}, "stats.v1.json")
