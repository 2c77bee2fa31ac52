"""Properties of loading a config: every input gives a typed config or a typed refusal.

Whatever the file or the ``--set`` value (any YAML: numbers, lists, dates, aliases, deep nesting,
any text), :func:`load_config` returns a :class:`Config` or raises :class:`ConfigError`, never
another exception. And the refusals of configs that parse but cannot work hold exactly at their
bounds: ``source.retry_min`` above ``retry_max``, an empty ``mqtt.host``, a client id no MQTT
string can carry, a zone on a camera that does not exist, too many zone corners, too many aliases.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edgepose.cli import main
from edgepose.config import Config, load_config, redacted
from edgepose.config.load import MAX_ALIASES, MAX_CORNERS, MAX_DEPTH, MAX_ZONE_CORNERS, MQTT_STRING_MAX
from edgepose.errors import ConfigError

NO_ENV: dict[str, str] = {}  # no password variable or systemd credential leaks in from the machine
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def key_paths(cls: type = Config, prefix: str = "") -> list[tuple[str, typing.Any, dict]]:
    """Every settable key of the schema, with its type and metadata (limits), depth first."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(key_paths(tp, path + "."))
        else:
            out.append((path, tp, dict(f.metadata)))
    return out


KEYS = key_paths()
KEY_NAMES = [k for k, _, _ in KEYS]


def load(*overrides: str, path: Path | None = None) -> Config | ConfigError:
    """The config, or the ConfigError refusing it; any other exception fails the test."""
    try:
        config = load_config(path, list(overrides), env=NO_ENV)
    except ConfigError as exc:
        assert exc.message and "\n" not in exc.message, exc.message  # one line for the user
        return exc
    json.loads(json.dumps(redacted(config), default=list))  # what check-config --print writes
    return config


# -- anything in, a config or a ConfigError out -------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates(),
    st.binary(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
# YAML texts a person might type after '=': numbers in odd notations, flow collections, tags, anchors
YAML_WORDS = st.sampled_from(
    [
        "0x1F",
        "1e400",
        "-.inf",
        ".nan",
        "0o17",
        "1_000",
        "~",
        "null",
        "yes",
        "off",
        "2023-02-30",
        "2023-02-28",
        "!!binary aGk=",
        "!!set {a}",
        "!!python/name:os.system",
        "&a [1, *a]",
        "[&a 1, *a, *a]",
        "{a: 1, a: 2}",
        "'quoted'",
        '"\\ud800"',
        '"\\0"',
        "[",
        "]",
        "{",
        "- a",
        "? x",
        "*undefined",
        "|\n  block",
        "@x",
        "`x",
    ]
)


def dump(value: typing.Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()


@FAST
@given(key=st.sampled_from(KEY_NAMES), value=VALUES)
def test_any_value_for_any_key(key: str, value: typing.Any) -> None:
    load(f"{key}={dump(value)}")


@FAST
@given(key=st.sampled_from(KEY_NAMES), text=st.one_of(YAML_WORDS, st.text(max_size=40)))
@example(key="mqtt.topic_prefix", text='"\\ud800"')  # a lone surrogate, which no topic can carry
def test_any_text_for_any_key(key: str, text: str) -> None:
    load(f"{key}={text}")


@FAST
@given(key=st.text(max_size=30), text=st.text(max_size=30))
def test_any_override_at_all(key: str, text: str) -> None:
    load(f"{key}={text}")
    load(key)  # no '=' at all


SECTIONS = st.sampled_from(
    [
        "source",
        "model",
        "decoder",
        "tracking",
        "analysis",
        "mqtt",
        "service",
        "cameras",
        "sinks",
        "device_id",
        "site",
        "logging",
        "nonsense",
    ]
)


@FAST
@given(document=st.dictionaries(SECTIONS, VALUES, max_size=4))
def test_any_yaml_file(tmp_path_factory: pytest.TempPathFactory, document: dict) -> None:
    path = tmp_path_factory.mktemp("cfg") / "edgepose.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    load(path=path)


@FAST
@given(text=st.text(max_size=200))
def test_any_text_file(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "edgepose.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load(path=path)


# -- typed values: in range they load as themselves, out of range they are refused by key ---------

NUMBER_KEYS = [(k, tp, m) for k, tp, m in KEYS if tp in (int, float) and (m.get("min") is not None)]


@FAST
@given(data=st.data())
def test_a_number_loads_as_itself_or_is_refused_by_name(data: st.DataObject) -> None:
    key, tp, meta = data.draw(st.sampled_from(NUMBER_KEYS))
    lo, hi = meta["min"], meta["max"]
    if tp is int:
        value: float = data.draw(st.integers(min_value=int(lo) - 5, max_value=int(hi if hi is not None else lo) + 5))
        text = str(value)
    else:  # written as a person would, with a decimal point (YAML 1.1 reads 1e-05 as a string)
        text = f"{data.draw(st.floats(min_value=lo - 5, max_value=(hi if hi is not None else lo + 1e6) + 5)):.6f}"
        value = float(text)
    result = load(f"{key}={text}")
    inside = lo <= value and (hi is None or value <= hi)
    if isinstance(result, Config) and inside:
        got = result
        for part in key.split("."):
            got = getattr(got, part)
        assert got == value and type(got) is tp
    elif inside:  # in range and still refused: only by a rule spanning fields, which names the key too
        assert key.rsplit(".", 1)[-1] in result.message or "reconnect" in result.message, result.message
    else:
        assert isinstance(result, ConfigError) and key in result.message, (key, value, result)


# -- the refusals of configs that parse but cannot work, exactly at their bounds ------------------

POSITIVE = st.floats(min_value=0.05, max_value=100.0)


@FAST
@given(low=POSITIVE, high=POSITIVE, cameras=st.booleans())
def test_retry_min_above_retry_max_is_refused(low: float, high: float, cameras: bool) -> None:
    where = "cameras.front.source" if cameras else "source"
    extra = ["cameras.front.source.uri=a.mp4"] if cameras else []
    result = load(*extra, f"{where}.retry_min={low!r}", f"{where}.retry_max={high!r}")
    if low <= high:
        assert isinstance(result, Config)
    else:
        assert isinstance(result, ConfigError) and f"{where}.retry_min" in result.message


@FAST
@given(host=st.text(alphabet=" \t\n", max_size=3))
def test_a_blank_mqtt_host_is_refused(host: str) -> None:
    result = load(f"mqtt.host={json.dumps(host)}") if host else load("mqtt.host=")
    assert isinstance(result, ConfigError) and "mqtt.host" in result.message


@pytest.mark.parametrize("host", ["mqtt://broker", "broker:1883/x", "broker name"])
def test_an_mqtt_url_as_host_is_refused(host: str) -> None:
    result = load(f"mqtt.host='{host}'")
    assert isinstance(result, ConfigError) and "mqtt.host" in result.message


@pytest.mark.parametrize("host", ["localhost", "10.0.0.2", "::1", "broker.example.org", "fe80::1%eth0"])
def test_a_host_loads(host: str) -> None:
    assert load(f"mqtt.host='{host}'").mqtt.host == host


@pytest.mark.parametrize(
    ("size", "refused"),
    [(1, False), (23, False), (24, False), (MQTT_STRING_MAX, False), (MQTT_STRING_MAX + 1, True)],
)
def test_a_client_id_past_the_mqtt_string_maximum_is_refused(size: int, refused: bool) -> None:
    result = load(f"mqtt.client_id={'c' * size}")
    assert isinstance(result, ConfigError) is refused
    if refused:
        assert "mqtt.client_id" in result.message


@pytest.mark.parametrize("key", ["mqtt.username", "mqtt.password"])
@pytest.mark.parametrize(("size", "refused"), [(MQTT_STRING_MAX, False), (MQTT_STRING_MAX + 1, True)])
def test_a_user_name_or_password_past_the_mqtt_string_maximum_is_refused(key: str, size: int, refused: bool) -> None:
    result = load("mqtt.username=u", f"{key}={'p' * size}")
    assert isinstance(result, ConfigError) is refused
    if refused:
        assert key in result.message and "ppp" not in result.message


def test_a_client_id_counts_bytes_not_characters() -> None:
    two_bytes = "é" * (MQTT_STRING_MAX // 2 + 1)  # fewer characters than the maximum, more bytes
    assert isinstance(load(f"mqtt.client_id={two_bytes}"), ConfigError)
    assert isinstance(load('mqtt.client_id="a\\0b"'), ConfigError)  # NUL: no MQTT string may hold it


@FAST
@given(zone_camera=st.sampled_from(["cam0", "front", "back", "garden"]), several=st.booleans())
def test_a_zone_on_a_camera_that_does_not_exist_is_refused(zone_camera: str, several: bool) -> None:
    """With one camera too: its name is source.camera (cam0 by default)."""
    cameras = ["cameras.front.source.uri=a.mp4", "cameras.back.source.uri=b.mp4"] if several else []
    known = {"front", "back"} if several else {"cam0"}
    zone = f"analysis.zones=[{{name: z, camera: {zone_camera}, polygon: [[0, 0], [1, 0], [1, 1]]}}]"
    result = load(*cameras, "analysis.enabled=true", zone)
    if zone_camera in known:
        assert isinstance(result, Config)
    else:
        assert isinstance(result, ConfigError) and "analysis.zones[0].camera" in result.message


def polygon(n: int) -> str:
    """A convex polygon of n corners (a simple one whatever n), as YAML."""
    points = [(0.5 + 0.4 * math.cos(2 * math.pi * i / n), 0.5 + 0.4 * math.sin(2 * math.pi * i / n)) for i in range(n)]
    return "[" + ", ".join(f"[{x!r}, {y!r}]" for x, y in points) + "]"


@settings(max_examples=20, deadline=None)
@given(n=st.integers(min_value=3, max_value=3 * MAX_ZONE_CORNERS))
def test_zone_corners_are_bounded(n: int) -> None:
    result = load("analysis.enabled=true", f"analysis.zones=[{{name: z, polygon: {polygon(n)}}}]")
    if n <= MAX_ZONE_CORNERS:
        assert isinstance(result, Config)
    else:
        assert isinstance(result, ConfigError) and f"at most {MAX_ZONE_CORNERS}" in result.message


def test_all_zones_together_are_bounded() -> None:
    count = MAX_CORNERS // MAX_ZONE_CORNERS
    zones = ", ".join(f"{{name: z{i}, polygon: {polygon(MAX_ZONE_CORNERS)}}}" for i in range(count + 1))
    result = load("analysis.enabled=true", f"analysis.zones=[{zones}]")
    assert isinstance(result, ConfigError) and f"at most {MAX_CORNERS}" in result.message
    fewer = ", ".join(f"{{name: z{i}, polygon: {polygon(MAX_ZONE_CORNERS)}}}" for i in range(count))
    assert isinstance(load("analysis.enabled=true", f"analysis.zones=[{fewer}]"), Config)


# -- YAML that costs more than it says: aliases, self-reference, depth --------------------------


@FAST
@given(aliases=st.integers(min_value=0, max_value=2 * MAX_ALIASES), where=st.sampled_from(["file", "set"]))
def test_aliases_past_the_budget_are_refused(
    tmp_path_factory: pytest.TempPathFactory, aliases: int, where: str
) -> None:
    sinks = "[" + ", ".join(["*s"] * aliases) + "]"
    text = f"device_id: &s stdout\nsinks: {sinks}\n" if aliases else "sinks: [stdout]\n"
    if where == "file":
        path = tmp_path_factory.mktemp("cfg") / "edgepose.yaml"
        path.write_text(text)
        result = load(path=path)
    else:
        result = load(f"sinks=[&s stdout, {sinks[1:]}" if aliases else "sinks=[stdout]")
    if aliases > MAX_ALIASES:
        assert isinstance(result, ConfigError) and "aliases" in result.message
    else:
        assert isinstance(result, Config) and set(result.sinks) == {"stdout"}


# (levels, aliases per level, what refuses it): each level repeats the one before
BOMBS = [
    (3, 9, "unknown key"),  # 9**3 values: within the budgets, refused as an unknown key
    (9, 9, "aliases"),  # the classic billion laughs: 72 aliases
    (16, 3, "values"),  # 48 aliases standing for 3**16 values
]


@pytest.mark.parametrize(("levels", "per", "refusal"), BOMBS)
def test_a_billion_laughs_is_refused(tmp_path: Path, levels: int, per: int, refusal: str) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * per)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = load(path=path)
    assert isinstance(result, ConfigError) and refusal in result.message, result.message


@pytest.mark.parametrize("text", ["a: &a [*a]", "a: &a {b: *a}", "sinks: &s [*s]"])
def test_a_recursive_alias_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(text + "\n")
    result = load(path=path)
    assert isinstance(result, ConfigError) and "contains it" in result.message


@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 1, 400, 5000])
def test_nesting_is_bounded(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("model: " + "[" * depth + "]" * depth + "\n")
    result = load(path=path)
    assert isinstance(result, ConfigError)
    assert ("levels deep" in result.message) is (depth > MAX_DEPTH), result.message


def test_a_password_file_is_read_within_a_bound(tmp_path: Path) -> None:
    """A password file that never ends (/dev/zero given by mistake) is refused, not read forever."""
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    result = load("mqtt.username=u", "mqtt.password_file=/dev/zero")
    assert isinstance(result, ConfigError) and "mqtt.password_file" in result.message


@pytest.mark.parametrize(
    ("size", "sinks", "warned"),
    [(23, "[mqtt]", False), (24, "[mqtt]", True), (24, "[stdout]", False)],  # no broker: nothing to refuse it
)
def test_a_client_id_past_23_bytes_is_a_warning(size: int, sinks: str, warned: bool) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["check-config", "--set", f"sinks={sinks}", "--set", f"mqtt.client_id={'c' * size}"])
    assert code == 0
    assert ("edgepose: warning: mqtt.client_id" in out.getvalue()) is warned, out.getvalue()


@FAST
@given(name=st.text(max_size=30))
def test_a_preview_host_is_a_host_name(name: str) -> None:
    """service.preview.hosts: a name as a Host header carries it, or refused (never silently unmatched)."""
    result = load(f"service.preview.hosts=[{json.dumps(name)}]")
    looks_like_a_name = bool(name) and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    if isinstance(result, Config):
        assert looks_like_a_name and result.service.preview.hosts == (name,)
    else:
        assert "service.preview.hosts[0]" in result.message


@pytest.mark.parametrize("name", ["http://pi.example.org", "pi.example.org:9181", "pi/x", "pi example", ""])
def test_a_preview_host_with_a_scheme_or_port_is_refused(name: str) -> None:
    result = load(f"service.preview.hosts=[{json.dumps(name)}]")
    assert isinstance(result, ConfigError) and "service.preview.hosts[0]" in result.message
