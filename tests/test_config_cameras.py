"""The ``cameras`` config: the single ``source`` form as one camera, a map of named cameras laid over
the top-level sections, and the refusals, each naming the key path (and the line where known)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgepose.config.cameras import camera_config, camera_configs, camera_names, fps_cap
from edgepose.config.load import load_config
from edgepose.config.sections import SHARED_DECODER_KEYS, Config
from edgepose.errors import ConfigError

TWO_CAMERAS = """\
source:
  width: 640
  height: 480
  fps: 15
decoder:
  min_keypoint_score: 0.4
tracking:
  max_tracks: 6
cameras:
  front:
    source: {uri: front.mp4}
  garden:
    source: {uri: garden.mp4, height: 360}
    fps_cap: 5
    decoder: {min_pose_score: 0.5}
    tracking: {tracker: bbox}
"""


def load(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> Config:
    path = tmp_path / "edgepose.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, overrides, env={})


def refusal(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, overrides)
    return str(info.value)


# -- the single source form ---------------------------------------------------------------------


def test_the_single_source_form_is_one_camera(tmp_path: Path) -> None:
    config = load(tmp_path, "source: {uri: door.mp4, camera: door}\n")
    assert config.cameras == {}
    assert camera_configs(config) == (config,)
    assert camera_names(config) == ("door",)
    assert camera_config(config, "door") is config
    assert fps_cap(config, "door") is None


def test_without_a_file_the_one_camera_is_cam0() -> None:
    config = load_config(None, env={})
    assert camera_names(config) == ("cam0",)
    assert camera_configs(config) == (config,)


def test_cameras_left_empty_is_the_single_form(tmp_path: Path) -> None:
    """``cameras:`` with nothing under it reads as no cameras, as an empty section reads as its defaults."""
    config = load(tmp_path, "source: {uri: door.mp4}\ncameras:\n")
    assert config.cameras == {}
    assert camera_names(config) == ("cam0",)


# -- a map of cameras ---------------------------------------------------------------------------


def test_each_camera_inherits_the_top_level_source_with_its_own_uri(tmp_path: Path) -> None:
    config = load(tmp_path, TWO_CAMERAS)
    front, garden = camera_configs(config)
    assert (front.source.camera, front.source.uri) == ("front", "front.mp4")
    assert (garden.source.camera, garden.source.uri) == ("garden", "garden.mp4")
    assert (front.source.width, front.source.height, front.source.fps) == (640, 480, 15.0)
    assert (garden.source.width, garden.source.height, garden.source.fps) == (640, 360, 15.0)


def test_a_cameras_decoder_and_tracking_apply_to_that_camera_only(tmp_path: Path) -> None:
    config = load(tmp_path, TWO_CAMERAS)
    front, garden = camera_config(config, "front"), camera_config(config, "garden")
    assert front.decoder == config.decoder and front.tracking == config.tracking
    assert front.decoder.min_pose_score is None
    assert (garden.decoder.min_pose_score, garden.decoder.min_keypoint_score) == (0.5, 0.4)  # own over inherited
    assert (garden.tracking.tracker, garden.tracking.max_tracks) == ("bbox", 6)
    assert front.tracking.tracker == "keypoint"
    for camera in (front, garden):  # everything else is the daemon's own
        assert (camera.model, camera.mqtt, camera.analysis) == (config.model, config.mqtt, config.analysis)


def test_fps_cap_per_camera_none_for_zero(tmp_path: Path) -> None:
    config = load(tmp_path, TWO_CAMERAS + "  side:\n    source: {uri: side.mp4}\n    fps_cap: 0\n")
    assert fps_cap(config, "garden") == 5.0
    assert fps_cap(config, "front") is None  # not given: 0
    assert fps_cap(config, "side") is None  # 0 written out: no cap
    assert fps_cap(config, "nowhere") is None


def test_the_order_is_the_yaml_order(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        cameras:
          zeta: {source: {uri: z.mp4}}
          alpha: {source: {uri: a.mp4}}
          mid-1: {source: {uri: m.mp4}}
        """,
    )
    assert camera_names(config) == ("zeta", "alpha", "mid-1")
    assert [c.source.camera for c in camera_configs(config)] == ["zeta", "alpha", "mid-1"]
    assert [c.source.uri for c in camera_configs(config)] == ["z.mp4", "a.mp4", "m.mp4"]


def test_a_camera_with_nothing_under_it_inherits_everything(tmp_path: Path) -> None:
    config = load(tmp_path, "source: {uri: shared.mp4, width: 320}\ncameras:\n  front:\n  back: {}\n")
    assert camera_names(config) == ("front", "back")
    for name in ("front", "back"):
        camera = camera_config(config, name)
        assert (camera.source.camera, camera.source.uri, camera.source.width) == (name, "shared.mp4", 320)


def test_the_shared_decoder_keys_come_from_the_top_level(tmp_path: Path) -> None:
    config = load(tmp_path, TWO_CAMERAS, ("decoder.kernel=numpy", "decoder.multipose_long_side=320"))
    for camera in camera_configs(config):
        assert (camera.decoder.kernel, camera.decoder.multipose_long_side) == ("numpy", 320)


def test_set_overrides_reach_the_cameras(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        TWO_CAMERAS,
        (
            "source.width=320",  # the top level: every camera that does not set it
            "cameras.garden.fps_cap=2",
            "cameras.back-door.source.uri=door.mp4",  # a new camera, its name with a '-'
            "cameras.0.source.uri=zero.mp4",  # a name that is a number to YAML is a string in a dotted key
        ),
    )
    assert camera_names(config) == ("front", "garden", "back-door", "0")
    assert [c.source.width for c in camera_configs(config)] == [320, 320, 320, 320]
    assert fps_cap(config, "garden") == 2.0
    assert camera_config(config, "back-door").source.uri == "door.mp4"
    assert camera_config(config, "0").source.uri == "zero.mp4"


def test_set_fills_a_cameras_section_left_empty(tmp_path: Path) -> None:
    config = load(tmp_path, "cameras:\n", ("cameras.front.source.uri=f.mp4",))
    assert camera_names(config) == ("front",)


def test_a_zone_picks_one_of_the_cameras(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        TWO_CAMERAS
        + """\
analysis:
  zones:
    - {name: lawn, camera: garden, polygon: [[0, 0], [1, 0], [1, 1]]}
""",
    )
    assert config.analysis.zones[0].camera == "garden"


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "a b", "a+", "", "x" * 65, "é"])
def test_an_invalid_name_is_refused(tmp_path: Path, name: str) -> None:
    message = refusal(tmp_path, f"cameras:\n  {name!r}: {{source: {{uri: a.mp4}}}}\n")
    assert f"edgepose.yaml:2: cameras.{name}: {name!r} is not a valid name" in message
    assert "[A-Za-z0-9_-]{1,64}" in message


def test_a_name_yaml_reads_as_a_number_is_refused_with_a_hint(tmp_path: Path) -> None:
    message = refusal(tmp_path, "cameras:\n  0: {source: {uri: a.mp4}}\n")
    assert "edgepose.yaml:2: cameras.0: 0 is not a name" in message
    assert "quote it" in message


def test_a_duplicate_camera_is_refused_with_both_lines(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        """\
        cameras:
          front: {source: {uri: a.mp4}}
          back: {source: {uri: b.mp4}}
          front: {source: {uri: c.mp4}}
        """,
    )
    assert "edgepose.yaml:4: cameras.front: duplicate key at lines 2 and 4" in message


def test_a_cameras_own_source_camera_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "cameras:\n  x:\n    source: {uri: a.mp4, camera: y}\n")
    assert "cameras.x.source.camera: the camera's name is its key (x)" in message


def test_a_cameras_source_camera_by_set_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "cameras:\n  x: {source: {uri: a.mp4}}\n", ("cameras.x.source.camera=y",))
    assert "cameras.x.source.camera" in message


def test_top_level_source_camera_with_cameras_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "source:\n  camera: cam0\ncameras:\n  x: {source: {uri: a.mp4}}\n")
    assert "edgepose.yaml:2: source.camera: with cameras, each camera's name is its key" in message


@pytest.mark.parametrize("key", SHARED_DECODER_KEYS)
def test_a_shared_decoder_key_per_camera_is_refused(tmp_path: Path, key: str) -> None:
    assert set(SHARED_DECODER_KEYS) == {"multipose_long_side", "kernel", "numba_cache_dir"}
    value = {"multipose_long_side": 320, "kernel": "numpy", "numba_cache_dir": "/tmp/n"}[key]
    message = refusal(tmp_path, f"cameras:\n  x:\n    source: {{uri: a.mp4}}\n    decoder:\n      {key}: {value}\n")
    assert f"edgepose.yaml:5: cameras.x.decoder.{key}: shared by every camera" in message
    assert f"set decoder.{key} at the top level" in message


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("{source: {uri: a.mp4}, bogus: 1}", "cameras.x.bogus: unknown key"),
        ("{source: {uri: a.mp4}, fps_cp: 5}", "cameras.x.fps_cp: unknown key (did you mean 'fps_cap'?)"),
        ("{source: {uri: a.mp4, wdith: 5}}", "cameras.x.source.wdith: unknown key (did you mean 'width'?)"),
        ("{source: {uri: a.mp4}, decoder: {bogus: 1}}", "cameras.x.decoder.bogus: unknown key"),
        ("{source: {uri: a.mp4}, tracking: {bogus: 1}}", "cameras.x.tracking.bogus: unknown key"),
        ("{source: {uri: a.mp4}, model: {threads: 2}}", "cameras.x.model: unknown key"),  # one engine
        ("{source: picamera2:0}", "cameras.x.source: 'picamera2:0' is not a mapping"),
        ("{source: {uri: a.mp4, width: 8}}", "cameras.x.source.width: 8 is below the minimum 16"),
        ("{source: {uri: a.mp4}, tracking: {tracker: magic}}", "cameras.x.tracking.tracker: 'magic' is not allowed"),
    ],
)
def test_a_bad_key_inside_a_camera_is_refused(tmp_path: Path, entry: str, needle: str) -> None:
    assert needle in refusal(tmp_path, f"cameras:\n  x: {entry}\n")


def test_cameras_must_be_a_map(tmp_path: Path) -> None:
    assert "cameras: ['a', 'b'] is not a mapping" in refusal(tmp_path, "cameras: [a, b]\n")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("decoder: {bogus: 1}\n", "edgepose.yaml:1: decoder.bogus: unknown key"),
        ("tracking: {max_tracks: 0}\n", "edgepose.yaml:1: tracking.max_tracks: 0 is below the minimum 1"),
        ("source: {width: 8}\n", "edgepose.yaml:1: source.width: 8 is below the minimum 16"),
    ],
)
def test_a_top_level_mistake_is_reported_at_its_own_key(tmp_path: Path, text: str, needle: str) -> None:
    """Not as ``cameras.front.decoder.bogus``, without a line, because every camera inherits it."""
    message = refusal(tmp_path, text + "cameras:\n  front: {source: {uri: a.mp4}}\n")
    assert needle in message
    assert "cameras.front" not in message


def test_a_camera_with_an_empty_uri_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "cameras:\n  a: {source: {uri: a.mp4}}\n  b: {source: {uri: ''}}\n")
    assert "cameras.b.source.uri: empty" in message


def test_an_empty_top_level_uri_is_refused_at_each_camera_that_inherits_it(tmp_path: Path) -> None:
    message = refusal(tmp_path, "source: {uri: '  '}\ncameras:\n  a: {}\n")
    assert "cameras.a.source.uri: empty" in message


def test_a_zone_on_a_camera_not_configured_is_refused(tmp_path: Path) -> None:
    message = refusal(
        tmp_path,
        TWO_CAMERAS
        + """\
analysis:
  zones:
    - {name: lawn, camera: side, polygon: [[0, 0], [1, 0], [1, 1]]}
""",
    )
    assert "analysis.zones[0].camera: 'side' is not one of the cameras (front, garden)" in message


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("-1", "cameras.x.fps_cap: -1.0 is below the minimum 0.0"),
        ("241", "cameras.x.fps_cap: 241.0 is above the maximum 240.0"),
        ("fast", "cameras.x.fps_cap: 'fast' is not a number"),
        ("true", "cameras.x.fps_cap: true is not a number"),
    ],
)
def test_fps_cap_out_of_range_is_refused(tmp_path: Path, value: str, needle: str) -> None:
    message = refusal(tmp_path, f"cameras:\n  x:\n    source: {{uri: a.mp4}}\n    fps_cap: {value}\n")
    assert f"edgepose.yaml:4: {needle}" in message


def test_fps_cap_out_of_range_by_set_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, "cameras:\n  x: {source: {uri: a.mp4}}\n", ("cameras.x.fps_cap=300",))
    assert "cameras.x.fps_cap: 300.0 is above the maximum 240.0" in message


def test_a_source_uri_no_camera_uses_is_refused(tmp_path) -> None:
    """``--source`` (source.uri) with a cameras config whose cameras all name their own uri would be
    ignored in silence: refused, saying how to reach a camera; ``auto`` (the default file's) is fine."""
    path = tmp_path / "cameras.yaml"
    path.write_text(
        "source: {uri: auto}\ncameras:\n  a: {source: {uri: a.mp4}}\n  b: {source: {uri: b.mp4}}\n", encoding="utf-8"
    )
    assert [c.source.uri for c in camera_configs(load_config(path))] == ["a.mp4", "b.mp4"]
    with pytest.raises(ConfigError, match=r"source\.uri: 'other\.mp4' is used by no camera") as refused:
        load_config(path, ["source.uri=other.mp4"])
    assert "cameras.<name>.source.uri" in (refused.value.hint or "")
