"""The analysis section: off by default, zones refused at load (exit 78) with the key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.errors import ConfigError
from tests.builders.cli import run_cli

SQUARE = "[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]"


def zones_yaml(*zones: str) -> str:
    body = "".join(f"    - {z}\n" for z in zones)
    return f"analysis:\n  enabled: true\n  zones:\n{body}"


def test_off_by_default_and_a_good_zone_loads() -> None:
    assert load_config(None, [], env={}).analysis.enabled is False
    config = load_config(
        None, ["analysis.enabled=true", f"analysis.zones=[{{name: doorway, polygon: {SQUARE}}}]"], env={}
    )
    (zone,) = config.analysis.zones
    assert zone.name == "doorway" and zone.polygon[2] == (0.4, 0.4) and zone.anchor == "feet"
    assert (zone.enter_after, zone.leave_after, zone.camera) == (0.5, 1.0, "")


BOW_TIE = "[[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]"

# (one zone, words of the error); each zone is on line 4 of the file
REFUSALS = [
    ("{name: a, polygon: [[0.1, 0.1], [0.2, 0.2]]}", "analysis.zones[0].polygon: has 2 point(s)"),
    ("{name: a, polygon: " + BOW_TIE + "}", "analysis.zones[0].polygon: edges 0 and 2 cross"),
    ("{name: a, polygon: [[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]]}", "zones[0].polygon[1]: [1.2, 0.1] is outside"),
    ("{name: a, polygon: [[-0.1, 0.1], [1, 0.1], [0.5, 0.5]]}", "zones[0].polygon[0]: [-0.1, 0.1] is outside"),
    ("{name: a, polygon: [[0.1, 0.1, 0.3], [1, 0.1], [0.5, 0.5]]}", "[0.1, 0.1, 0.3] is not a point"),
    ("{name: 'front door', polygon: " + SQUARE + "}", "analysis.zones[0].name: 'front door' does not match"),
    ("{name: 'a/b', polygon: " + SQUARE + "}", "analysis.zones[0].name: 'a/b' does not match"),  # topic levels
    ("{name: '#', polygon: " + SQUARE + "}", "does not match"),  # a wildcard
    ("{polygon: " + SQUARE + "}", "analysis.zones[0].name: missing"),
    ("{name: a, polygon: " + SQUARE + ", shape: round}", "analysis.zones[0].shape: unknown key"),
    ("{name: a, polygon: " + SQUARE + ", anchor: head}", "analysis.zones[0].anchor: 'head' is not allowed"),
    ("{name: a, polygon: " + SQUARE + ", enter_after: -1}", "analysis.zones[0].enter_after: -1.0 is below"),
]


@pytest.mark.parametrize(("zone", "needle"), REFUSALS)
def test_bad_zones_are_refused_with_path_and_line(zone: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "edgepose.yaml"
    path.write_text(zones_yaml(zone))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert needle in info.value.message
    assert info.value.message.startswith(f"{path}:4: ")


def test_duplicate_names_point_at_the_second(tmp_path: Path) -> None:
    path = tmp_path / "edgepose.yaml"
    path.write_text(
        zones_yaml(
            f"{{name: sofa, polygon: {SQUARE}}}",
            "{name: desk, polygon: " + SQUARE + "}",
            f"{{name: sofa, polygon: {SQUARE}}}",
        )
    )
    with pytest.raises(
        ConfigError, match=r":6: analysis\.zones\[2\]\.name: 'sofa' is also the name of analysis\.zones\[0\]"
    ):
        load_config(path, env={})


def test_a_multiline_polygon_names_the_points_line(tmp_path: Path) -> None:
    path = tmp_path / "edgepose.yaml"
    path.write_text(
        "analysis:\n  zones:\n    - name: a\n      polygon:\n        - [0.1, 0.1]\n"
        "        - [0.9, 0.1]\n        - [0.9, 1.5]\n"
    )
    with pytest.raises(ConfigError, match=r":7: analysis\.zones\[0\]\.polygon\[2\]: \[0\.9, 1\.5\] is outside"):
        load_config(path, env={})


def test_check_config_exits_78(tmp_path: Path) -> None:
    path = tmp_path / "edgepose.yaml"
    path.write_text(zones_yaml("{name: a, polygon: [[0.1, 0.1], [0.2, 0.2]]}"))
    proc = run_cli("check-config", "-c", str(path))
    assert proc.returncode == 78
    assert f"{path}:4: analysis.zones[0].polygon: has 2 point(s)" in proc.stderr
    assert (
        run_cli("check-config", "--set", "analysis.zones=[{name: a, polygon: [[0,0],[1,0],[1,1],[0,1]]}]").returncode
        == 0
    )
