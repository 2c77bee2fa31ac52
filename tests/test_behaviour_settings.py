"""The behaviours' settings through the project's config validator: defaults, limits, cross-field
rules and their messages with the key path and YAML line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgepose.analysis.behaviours.settings import (
    BehavioursSettings,
    FallSettings,
    MatchSettings,
    RepsSettings,
    library_dir,
)
from edgepose.config.load import read_yaml
from edgepose.config.validate import build
from edgepose.errors import ConfigError


def load(tmp_path: Path, text: str) -> BehavioursSettings:
    path = tmp_path / "behaviours.yaml"
    path.write_text(text)
    data, where = read_yaml(path)
    return build(BehavioursSettings, data.get("behaviours"), "behaviours", where)


def test_defaults_are_valid_and_every_field_is_documented() -> None:
    settings = build(BehavioursSettings, {}, "behaviours")
    assert settings == BehavioursSettings()
    for section in (MatchSettings, FallSettings, RepsSettings, BehavioursSettings):
        for f in dataclasses.fields(section):
            assert f.metadata.get("doc"), f"{section.__name__}.{f.name} has no doc"
    assert MatchSettings().match_threshold == 0.9 and MatchSettings(metric="cosine").match_threshold == 0.95
    assert [r.name for r in RepsSettings().rules()] == ["squat"]


def test_a_full_config_loads(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        """\
behaviours:
  match: {enabled: true, library: /var/lib/edgepose/poses, metric: cosine, threshold: 0.97, hold: 2}
  falls: {enabled: true, drop: 0.3, exclude: [bed, sofa]}
  reps:
    presets: [squat, curl]
    custom:
      - {name: lunge, angles: [left_knee, right_knee], combine: min, low: 95, high: 150}
""",
    )
    assert s.match.match_threshold == 0.97 and s.match.hold == 2.0
    assert s.falls.exclude == ("bed", "sofa")
    assert [r.name for r in s.reps.rules()] == ["squat", "curl", "lunge"]


# (YAML, what the one error must say: the file's line, the key path, the problem)
BAD = [
    ("behaviours:\n  falls:\n    drop: 2\n", ":3: behaviours.falls.drop: 2.0 is above the maximum 1.0"),
    ("behaviours:\n  match:\n    treshold: 0.9\n", "behaviours.match.treshold: unknown key"),
    ("behaviours:\n  match:\n    metric: euclid\n", "allowed: 'weighted', 'cosine'"),
    ("behaviours:\n  match:\n    threshold: 0.02\n", "release (0.05) is above threshold (0.02)"),
    ("behaviours:\n  falls:\n    upright_lean: 70\n", "upright_lean (70.0) must be below lying_lean (60.0)"),
    ("behaviours:\n  falls:\n    exclude: [bed, 'a/b']\n", "exclude[1]: 'a/b' is not a zone name"),
    ("behaviours:\n  falls:\n    exclude: [bed, bed]\n", "exclude names a zone twice"),
    ("behaviours:\n  reps:\n    presets: [situp]\n", "behaviours.reps.presets[0]: 'situp' is not allowed"),
    (
        "behaviours:\n  reps:\n    custom:\n      - {name: x, angles: [left_knee], low: 170, high: 100}\n",
        "behaviours.reps.custom[0]: x: low (170.0) must be below high (100.0)",
    ),
    ("behaviours:\n  reps:\n    custom:\n      - {name: x, angles: [left_toe]}\n", "'left_toe' is not allowed"),
    ("behaviours:\n  reps:\n    custom:\n      - {name: x, angles: []}\n", "x: no angles"),
    ("behaviours:\n  reps:\n    custom:\n      - {name: 'my squat', angles: [left_knee]}\n", "does not match"),
    ("behaviours:\n  reps:\n    custom:\n      - {name: squat, angles: [left_knee]}\n", "exercise names repeat"),
]


@pytest.mark.parametrize(("text", "needle"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_settings_are_refused_with_the_key_path(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert needle in str(info.value), str(info.value)  # the message and its hint
    assert info.value.exit_code == 78


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("/srv/poses", {"STATE_DIRECTORY": "/var/lib/edgepose"}, "/srv/poses"),  # the config wins
        ("", {"STATE_DIRECTORY": "/var/lib/edgepose:/other"}, "/var/lib/edgepose/poses"),  # under systemd
        ("", {"XDG_DATA_HOME": "/home/pi/.data"}, "/home/pi/.data/edgepose/poses"),
    ],
)
def test_library_dir(configured: str, env: dict, expected: str) -> None:
    assert library_dir(configured, env) == Path(expected)
