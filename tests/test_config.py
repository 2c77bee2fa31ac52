"""The config schema: defaults, overrides, secrets, and the documented default file."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from edgepose.config import load_config, redacted
from edgepose.config.reference import reference_yaml
from edgepose.config.sections import Config
from edgepose.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_documented_default_file_is_the_schema() -> None:
    """config/edgepose.yaml is regenerated from the schema; regenerate it when a key changes."""
    committed = (ROOT / "config" / "edgepose.yaml").read_text()
    assert committed == reference_yaml(), "run: edgepose check-config --write-default config/edgepose.yaml"


def test_default_file_loads_to_the_defaults() -> None:
    loaded = load_config(ROOT / "config" / "edgepose.yaml", env={})
    defaults = load_config(None, env={})
    assert loaded == defaults


def _walk(cls: type, prefix: str = ""):
    """Every field of the schema, sections included, by dotted path. The types are resolved: under
    ``from __future__ import annotations`` ``f.type`` is only a string and names no dataclass."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield prefix + f.name, f
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _walk(hints[f.name], prefix + f.name + ".")


def _keys(node: dict, prefix: str = ""):
    """Every key of parsed YAML, sections included, by dotted path."""
    for key, value in node.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")


def test_every_key_is_documented() -> None:
    text = yaml.safe_load(reference_yaml())
    walked = dict(_walk(Config))
    assert set(walked) == set(_keys(text))  # all of them (98 when written), not just the 9 sections
    for path, f in walked.items():
        assert f.metadata.get("doc"), f"{path} has no doc"
        node = text
        for part in path.split("."):
            node = node[part]


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("model.threads=2", lambda c: c.model.threads == 2),
        ("mqtt.tls.enabled=true", lambda c: c.mqtt.tls.enabled is True),
        ("sinks=[stdout, 'jsonl:/tmp/x.jsonl']", lambda c: c.sinks == ("stdout", "jsonl:/tmp/x.jsonl")),
        ("decoder.min_pose_score=0.5", lambda c: c.decoder.min_pose_score == 0.5),
        ("decoder.min_pose_score=1", lambda c: c.decoder.min_pose_score == 1.0),  # an int is a number
        ("device_id=kitchen", lambda c: c.device_id == "kitchen"),
        # YAML 1.1 reads a bare on/off as a boolean: a choice of 'on'/'off' takes it as written
        ("model.overlap=on", lambda c: c.model.overlap == "on"),
        ("model.overlap=off", lambda c: c.model.overlap == "off"),
        ("model.overlap='on'", lambda c: c.model.overlap == "on"),
        ("model.overlap=true", lambda c: c.model.overlap == "on"),  # what a bare on became
    ],
)
def test_overrides(override: str, check) -> None:
    assert check(load_config(None, [override], env={}))


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("model.threads=true", "model.threads: true is not a whole number"),
        ("model.accelerator=gpu", "allowed: 'cpu', 'edgetpu', 'auto'"),
        ("model.accelerator=true", "model.accelerator: true is not allowed"),  # no on/off choice: a bool stays wrong
        ("model.nope=1", "model.nope: unknown key"),
        ("mqtt.port=70000", "above the maximum 65535"),
        ("sinks=[kafka]", "sinks[0]: 'kafka' is not a sink"),
        ("device_id='has space'", "device_id"),
        ("source.camera='a/b#'", "source.camera"),
        ("mqtt.tls.cert_file=/x", "cert_file and key_file go together"),
        ("model", "expected KEY=VALUE"),
        ("model.threads.x=1", "model.threads: {'x': 1} is not a whole number"),
    ],
)
def test_bad_values_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override], env={})
    assert needle in str(info.value)


def test_unknown_key_suggests_the_near_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'threads'"):
        load_config(None, ["model.thread=1"], env={})


def test_password_from_environment() -> None:
    c = load_config(None, ["mqtt.username=u", "mqtt.password_env=EP_PW"], env={"EP_PW": "s3cret"})
    assert c.mqtt.password == "s3cret"
    assert redacted(c)["mqtt"]["password"] == "***"


def test_password_env_missing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EP_PW"):
        load_config(None, ["mqtt.username=u", "mqtt.password_env=EP_PW"], env={})


def test_password_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    c = load_config(None, ["mqtt.username=u", f"mqtt.password_file={secret}"], env={})
    assert c.mqtt.password == "from-file"


def test_password_from_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "mqtt_password").write_text("cred")
    c = load_config(None, ["mqtt.username=u"], env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert c.mqtt.password == "cred"


def test_device_id_defaults_to_a_topic_safe_host_name() -> None:
    c = load_config(None, env={})
    assert c.device_id and "/" not in c.device_id and " " not in c.device_id
