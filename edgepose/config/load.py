"""Loading the config: YAML file, ``--set`` overrides, secrets, then cross-field checks.

Secrets are read here, once, when the config loads (never at import), from the first of:
``mqtt.password``, the environment variable named by ``mqtt.password_env``, the file
``mqtt.password_file``, or the systemd credential ``$CREDENTIALS_DIRECTORY/mqtt_password``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from edgepose.config.sections import Config, SourceConfig
from edgepose.config.validate import Where, build
from edgepose.errors import ConfigError
from edgepose.redact import HIDDEN, redact_text

CREDENTIAL_NAME = "mqtt_password"
MAX_SECRET_BYTES = 65535  # the most an MQTT password can be (a binary field of 2-byte length)


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read, validate and complete the configuration. Raises :class:`ConfigError` on any problem."""
    env = os.environ if env is None else env
    where = Where()
    data: dict[str, Any] = {}
    if path is not None:
        data, where = read_yaml(Path(path))
    for item in overrides:
        apply_override(data, item)
    data = expand_cameras(data, where)
    config = build(Config, data, "", where)
    return finish(config, env, where)


def read_yaml(path: Path) -> tuple[dict[str, Any], Where]:
    """Parse a YAML file into plain data and a map from key path to line, for error messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", "pass -c FILE or copy config/edgepose.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data, node = parse_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses: no mark, a position
            line = f":{text.count(chr(10), 0, exc.position) + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        problem = " ".join(problem.split())  # one line: the error line is one line
        raise ConfigError(f"{path}{line}: malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(data).__name__}")
    lines: dict[str, int] = {}
    _record_lines(node, "", lines, path)
    return data, Where(str(path), lines)


# What one config may cost to read. A YAML alias repeats a node without copying it, so a few
# lines can stand for billions of values ("billion laughs"); everything after parsing walks the
# values as a tree. Real configs use no alias or a handful, and a few thousand values.
MAX_ALIASES = 64
MAX_VALUES = 100_000  # scalars, lists and mappings, counting each alias as the copy it stands for
MAX_DEPTH = 32  # nesting of lists and mappings (the schema itself is 6 deep)


class _BudgetLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document with more aliases than :data:`MAX_ALIASES`."""

    def __init__(self, stream: str, origin: str) -> None:
        super().__init__(stream)
        self.origin = origin
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"{self.origin}:{mark.line + 1}: more than {MAX_ALIASES} YAML aliases (*name)",
                    "write the values out; a config needs few aliases, if any",
                )
        return super().compose_node(parent, index)


def parse_yaml(text: str, origin: str) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree of one YAML document, within :data:`MAX_ALIASES`, :data:`MAX_VALUES`
    and :data:`MAX_DEPTH`; raises :class:`ConfigError` past them, ``yaml.YAMLError`` on bad YAML."""
    loader = _BudgetLoader(text, origin)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{origin}: nested more than {MAX_DEPTH} levels deep", "flatten it") from None
        if node is None:
            return None, None
        _measure(node, origin)
        try:
            return loader.construct_document(node), node
        except (ValueError, OverflowError) as exc:  # a date that is no date (2023-02-30), a huge exponent
            line = f":{node.start_mark.line + 1}" if node.start_mark else ""
            raise ConfigError(f"{origin}{line}: malformed YAML: {exc}") from None
    finally:
        loader.dispose()


def _measure(root: yaml.Node, origin: str) -> None:
    """Refuse a node tree that stands for more than MAX_VALUES values, nests deeper than MAX_DEPTH,
    or contains itself (an alias inside its own anchor). Each node is measured once: its value
    count and its height are kept, so an alias costs what it stands for, not a walk of it."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
    open_nodes: set[int] = set()

    def fail(node: yaml.Node, what: str, hint: str) -> NoReturn:
        raise ConfigError(f"{origin}:{node.start_mark.line + 1}: {what}", hint)

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            fail(node, "a YAML alias refers to a value that contains it", "a config cannot be recursive")
        if key not in measured:
            open_nodes.add(key)
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = list(node.value) if isinstance(node, yaml.SequenceNode) else []
            values, height = 1, 0
            for child in children:
                if depth + 1 > MAX_DEPTH:
                    fail(child, f"nested more than {MAX_DEPTH} levels deep", "flatten it")
                child_values, child_height = measure(child, depth + 1)
                values, height = values + child_values, max(height, child_height + 1)
                if values > MAX_VALUES:
                    fail(
                        node,
                        f"more than {MAX_VALUES} values (an alias counts as a copy)",
                        "a config holds a few thousand at most",
                    )
            open_nodes.discard(key)
            measured[key] = values, height
        values, height = measured[key]
        if depth + height > MAX_DEPTH:
            fail(node, f"nested more than {MAX_DEPTH} levels deep", "flatten it")
        return values, height

    measure(root, 0)


def _record_lines(node: Any, path: str, lines: dict[str, int], file: Path) -> None:
    """Note each key's line; refuse a key given twice in one mapping (YAML would keep the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            line = key.start_mark.line + 1
            if sub in seen:
                raise ConfigError(
                    f"{file}:{line}: {sub}: duplicate key at lines {seen[sub]} and {line}",
                    "keep one; YAML would silently use the last",
                )
            seen[sub] = lines[sub] = line
            _record_lines(value, sub, lines, file)
    elif isinstance(node, yaml.SequenceNode):  # list entries: analysis.zones[0].polygon[3]
        for i, item in enumerate(node.value):
            sub = f"{path}[{i}]"
            lines.setdefault(sub, item.start_mark.line + 1)
            _record_lines(item, sub, lines, file)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one ``KEY.PATH=VALUE``; the value is read as YAML, so ``2``, ``true``, ``[a, b]`` work."""
    key, sep, raw = item.partition("=")
    shown = f"{key.strip()}=..." if sep else key  # errors name the key, never the value (it may be a password)
    # after the first part, a level may be a camera's name (cameras.back-door.fps_cap=5): CAMERA_NAME's characters
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*", key.strip()):
        raise ConfigError(f"--set {shown!r}: expected KEY=VALUE with a dotted key, e.g. model.threads=2")
    try:
        value = parse_yaml(raw, f"--set {shown}")[0] if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if child is None:  # `decoder:` or `cameras:` left empty in the file: a section to fill
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {shown!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


CAMERA_SECTIONS = ("source", "decoder", "tracking")  # what a camera takes from the top level and may change


def expand_cameras(data: dict[str, Any], where: Where) -> dict[str, Any]:
    """Each ``cameras`` entry's sections laid over the top-level ones, before validation.

    A camera gives only what differs (usually ``source.uri``); the rest is the top-level
    ``source``, ``decoder`` and ``tracking``. Its name is its key, so ``source.camera`` inside a
    camera is refused, as are the decoder keys the one engine shares (``SHARED_DECODER_KEYS``).
    Anything malformed is left for :func:`build` to report with its path. The top-level sections
    are checked first, so their own mistakes are reported at their own path and line, not once per
    camera that inherits them.
    """
    cameras = data.get("cameras")
    if not isinstance(cameras, dict) or not cameras:
        return data
    from edgepose.config.sections import SHARED_DECODER_KEYS, DecoderConfig, SourceConfig, TrackingConfig

    for section, cls in zip(CAMERA_SECTIONS, (SourceConfig, DecoderConfig, TrackingConfig), strict=True):
        if isinstance(data.get(section), dict):
            build(cls, data[section], section, where)

    top_source = data.get("source") if isinstance(data.get("source"), dict) else {}
    if "camera" in top_source:
        raise ConfigError(
            f"{where.at('source.camera')}: source.camera: with cameras, each camera's name is its key in cameras",
            "remove source.camera",
        )
    top_uri = top_source.get("uri")
    own_uris = [
        isinstance(e, dict) and isinstance(e.get("source"), dict) and "uri" in e["source"] for e in cameras.values()
    ]
    if top_uri not in (None, "auto") and all(own_uris):  # a --source, or a uri left over from one camera
        raise ConfigError(
            f"{where.at('source.uri')}: source.uri: {top_uri!r} is used by no camera: each of cameras names its own",
            "set cameras.<name>.source.uri (--set works too), or drop source.uri (--source) with a cameras config",
        )
    expanded: dict[str, Any] = {}
    for name, entry in cameras.items():
        if entry is None:  # `front:` with nothing under it: a camera with every section as the top level's
            entry = {}
        if not isinstance(entry, dict):
            expanded[name] = entry
            continue
        entry = dict(entry)
        path = f"cameras.{name}"
        own_source = entry.get("source")
        if isinstance(own_source, dict) and "camera" in own_source:
            raise ConfigError(
                f"{where.at(path + '.source.camera')}: {path}.source.camera: the camera's name is its key ({name})",
                "remove it, or rename the key",
            )
        own_decoder = entry.get("decoder")
        if isinstance(own_decoder, dict):
            for key in SHARED_DECODER_KEYS:
                if key in own_decoder:
                    at = where.at(f"{path}.decoder.{key}")
                    raise ConfigError(
                        f"{at}: {path}.decoder.{key}: shared by every camera (one engine, one model input)",
                        f"set decoder.{key} at the top level",
                    )
        for section in CAMERA_SECTIONS:
            top = data.get(section)
            own = entry.get(section)
            if isinstance(top, dict) and (own is None or isinstance(own, dict)):
                entry[section] = {**top, **(own or {})}
        if isinstance(entry.get("source"), dict) or "source" not in entry:
            entry["source"] = {**(entry.get("source") or {}), "camera": name}
        expanded[name] = entry
    return {**data, "cameras": expanded}


def finish(config: Config, env: Mapping[str, str], where: Where | None = None) -> Config:
    """Fill derived defaults, read secrets and check rules that span fields."""
    device_id = config.device_id or _hostname()
    mqtt = dataclasses.replace(config.mqtt, password=read_password(config, env))
    config = dataclasses.replace(config, device_id=device_id, mqtt=mqtt)
    from edgepose.config.cameras import camera_configs

    for camera in camera_configs(config):
        verify_source(camera.source, camera_key(config, camera), where or Where())
    verify_cameras(config)
    verify_sinks(config.sinks)
    verify_mqtt(config, where or Where())
    verify_analysis(config, where or Where())
    verify_preview(config, where or Where())
    return config


HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")  # letters, digits, dots and dashes


def verify_preview(config: Config, where: Where) -> None:
    """Each name of ``service.preview.hosts`` is a host name as a Host header carries it: a URL or a
    name with a port there would never match, and the page would answer 403 to the name it was given."""
    for i, name in enumerate(config.service.preview.hosts):
        if not HOST_NAME.fullmatch(name):
            key = f"service.preview.hosts[{i}]"
            raise ConfigError(
                f"{where.at(key)}: {key}: {name!r} is not a host name",
                "the name alone, e.g. pi.example.org: no scheme, no port, no path",
            )


def _hostname() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()) or "edgepose"
    return name


def read_password(config: Config, env: Mapping[str, str]) -> str:
    m = config.mqtt
    if m.password:
        return m.password
    if m.password_env:
        if m.password_env not in env:
            raise ConfigError(
                f"mqtt.password_env: environment variable {m.password_env!r} is not set",
                "set it, or use mqtt.password_file",
            )
        return env[m.password_env]
    candidates = [Path(m.password_file)] if m.password_file else []
    if not candidates and env.get("CREDENTIALS_DIRECTORY"):
        cred = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        if cred.exists():
            candidates.append(cred)
    for file in candidates:
        try:
            with file.open("rb") as f:
                data = f.read(MAX_SECRET_BYTES + 1)  # bounded: /dev/zero given by mistake must not hang start-up
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {file}: {exc.strerror}") from None
        if len(data) > MAX_SECRET_BYTES:
            raise ConfigError(
                f"mqtt.password_file: {file} holds more than {MAX_SECRET_BYTES} bytes",
                "the file holds the password alone",
            )
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"mqtt.password_file: {file} is not UTF-8 text") from None
    return ""


def camera_key(config: Config, camera: Config) -> str:
    """Where a camera's source is configured: ``source`` or ``cameras.<name>.source``."""
    return f"cameras.{camera.source.camera}.source" if config.cameras else "source"


LIVE_DEVICE = re.compile(r"(picamera2(:\d+)?|/dev/video\d+)")  # what one process can open once


def verify_cameras(config: Config) -> None:
    """Several cameras: each names its own source. ``auto`` would pick the same camera for all, and a
    device opened twice is busy; one video file as several cameras is allowed (the benchmarks do it)."""
    shown = config.service.preview.camera
    if shown and shown not in (config.cameras or {config.source.camera: None}):
        raise ConfigError(
            f"service.preview.camera: {shown!r} is not one of the cameras",
            "name a key of cameras, or leave it empty for the first",
        )
    if not config.cameras:
        return
    seen: dict[str, str] = {}
    for name, camera in config.cameras.items():
        uri = camera.source.uri
        if uri == "auto":
            raise ConfigError(
                f"cameras.{name}.source.uri: auto: with several cameras each names its source",
                "e.g. picamera2:0 and picamera2:1, /dev/video0, an rtsp:// URL or a file",
            )
        device = "picamera2:0" if uri == "picamera2" else uri
        if LIVE_DEVICE.fullmatch(device):
            if device in seen:
                raise ConfigError(
                    f"cameras.{name}.source.uri: {uri} is also camera {seen[device]}'s",
                    "a camera device can be opened once",
                )
            seen[device] = name


def verify_source(source: SourceConfig, key: str = "source", where: Where | None = None) -> None:
    where = where or Where()
    if not source.uri.strip():  # as a path, '' is the current directory: a run over whatever is there
        raise ConfigError(f"{key}.uri: empty", "pass --source FILE|DIR|DEVICE|URL, or set source.uri: auto")
    if source.retry_min > source.retry_max:  # the backoff would start above its own ceiling
        at = key + (".retry_min" if f"{key}.retry_min" in where.lines else ".retry_max")
        if at not in where.lines:  # a camera's value may come from the top-level source
            at = "source.retry_min" if "source.retry_min" in where.lines else "source.retry_max"
        raise ConfigError(
            f"{where.at(at)}: {key}.retry_min: {source.retry_min:g} is above {key}.retry_max {source.retry_max:g}",
            "the first wait must not be longer than the longest",
        )


def verify_sinks(sinks: Sequence[str]) -> None:
    if not sinks:  # a run that publishes nowhere is a mistake, not a mode
        raise ConfigError("sinks: empty: the poses would go nowhere", "list at least one of stdout, jsonl:PATH, mqtt")
    from edgepose.sinks.spec import parse_sink

    for i, sink in enumerate(sinks):
        parse_sink(sink, f"sinks[{i}]")


# MQTT carries the client id as a UTF-8 string of at most 65535 bytes, without U+0000 (3.1.1 and 5:
# "1.5.3 UTF-8 encoded strings"): longer or with a NUL, no broker can take it, so it is refused.
# Every broker must accept 1..23 bytes of 0-9a-zA-Z and may accept more; all common brokers do
# (Mosquitto takes up to 65535), so a longer id only draws a warning (:func:`config_warnings`).
MQTT_STRING_MAX = 65535
MQTT_GUARANTEED_CLIENT_ID = 23


def is_mqtt_string(text: str) -> bool:
    """Whether MQTT can carry ``text`` as a string: UTF-8 of at most 65535 bytes, without U+0000."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in YAML): no UTF-8 at all
        return False
    return size <= MQTT_STRING_MAX and "\0" not in text


def client_id(config: Config) -> str:
    """The client id the daemon connects with: ``mqtt.client_id``, or ``edgepose-<device_id>``."""
    return config.mqtt.client_id or f"edgepose-{config.device_id or 'edgepose'}"


def verify_mqtt(config: Config, where: Where | None = None) -> None:
    m = config.mqtt
    if not m.host.strip():
        raise ConfigError(
            f"{(where or Where()).at('mqtt.host')}: mqtt.host: empty",
            "the broker's host name or address, e.g. localhost",
        )
    if "://" in m.host or "/" in m.host or any(c.isspace() for c in m.host):
        raise ConfigError(
            f"{(where or Where()).at('mqtt.host')}: mqtt.host: {m.host!r} is not a host name or address",
            "give the host alone: the port is mqtt.port, TLS is mqtt.tls.enabled",
        )
    cid = client_id(config)
    if not is_mqtt_string(cid):
        key = "mqtt.client_id" if m.client_id else "device_id"
        raise ConfigError(
            f"{(where or Where()).at(key)}: {key}: the client id is not an MQTT string (at most "
            f"{MQTT_STRING_MAX} UTF-8 bytes, no NUL character)",
            "set a shorter mqtt.client_id",
        )
    for key, value in (("mqtt.username", m.username), ("mqtt.password", m.password)):
        if not is_mqtt_string(value):  # the value is not shown: it may be the password
            raise ConfigError(
                f"{(where or Where()).at(key)}: {key}: not an MQTT string (at most {MQTT_STRING_MAX} UTF-8 bytes, "
                "no NUL character)"
            )
    from edgepose.mqtt.topics import expand_prefix

    try:
        expand_prefix(m.topic_prefix, config.device_id, config.site)
    except ConfigError as exc:  # say where: the file and line of mqtt.topic_prefix (or site)
        where = where or Where()
        key = exc.key or "mqtt.topic_prefix"
        line = where.lines.get("mqtt.topic_prefix") or where.lines.get(key)
        origin = f"{where.source}:{line}" if line else where.source
        raise ConfigError(f"{origin}: {exc.message}", exc.hint) from None
    if m.reconnect_max < m.reconnect_min:
        raise ConfigError(
            f"mqtt.reconnect_max: {m.reconnect_max} is below mqtt.reconnect_min {m.reconnect_min}",
        )
    if bool(m.tls.cert_file) != bool(m.tls.key_file):
        raise ConfigError("mqtt.tls: cert_file and key_file go together", "set both or neither")
    if (m.password or m.password_env or m.password_file) and not m.username:
        raise ConfigError("mqtt.username: a password is set but no username", "set mqtt.username")
    if m.buffer_bytes < m.max_payload:
        raise ConfigError(
            f"mqtt.buffer_bytes: {m.buffer_bytes} is below mqtt.max_payload {m.max_payload}",
            "the buffer must hold at least one message of the largest size",
        )
    from edgepose.config.cameras import camera_configs
    from edgepose.mqtt.topics import Topics

    for camera in camera_configs(config):
        Topics.from_config(camera)  # every topic edgepose publishes to must be valid


# Zones are checked at load in O(corners²) (edges crossing) and tested every frame in O(corners):
# a bound keeps both small. Hand-drawn zones have a handful of corners.
MAX_ZONE_CORNERS = 128
MAX_CORNERS = 1024


def verify_analysis(config: Config, where: Where) -> None:
    """Each zone: a name used once; a simple polygon of at least 3 points inside 0..1."""
    from edgepose.analysis.polygon import simple_polygon_problem

    seen: dict[str, int] = {}
    from edgepose.config.cameras import camera_names

    cameras = set(camera_names(config))
    corners = 0
    for i, zone in enumerate(config.analysis.zones):
        path = f"analysis.zones[{i}]"

        def fail(key: str, what: str, hint: str | None = None, path: str = path) -> NoReturn:
            at = f"{path}.{key}" if key else path
            line = where.lines.get(at) or where.lines.get(path)
            origin = f"{where.source}:{line}" if line else where.source
            raise ConfigError(f"{origin}: {at}: {what}", hint)

        if not zone.name:
            fail("name", "missing", "every zone needs a name: letters, digits, _ and -")
        if zone.name in seen:
            fail(
                "name",
                f"{zone.name!r} is also the name of analysis.zones[{seen[zone.name]}]",
                "zone names are topics and Home Assistant entities: each name once",
            )
        seen[zone.name] = i
        if zone.camera and zone.camera not in cameras:  # with one camera too: the zone would never be used
            fail(
                "camera",
                f"{zone.camera!r} is not one of the cameras ({', '.join(sorted(cameras))})",
                "name a key of cameras (or source.camera), or leave camera empty for every camera",
            )
        corners += len(zone.polygon)
        if len(zone.polygon) > MAX_ZONE_CORNERS:  # checking a polygon is O(corners²): bound it
            fail(
                "polygon",
                f"has {len(zone.polygon)} points; a zone has at most {MAX_ZONE_CORNERS}",
                "simplify the outline",
            )
        if corners > MAX_CORNERS:
            fail(
                "polygon",
                f"brings the zones to {corners} points; all zones together have at most {MAX_CORNERS}",
                "simplify the outlines, or use fewer zones",
            )
        for j, point in enumerate(zone.polygon):
            if len(point) != 2:
                fail(f"polygon[{j}]", f"{list(point)} is not a point [x, y]")
            if not all(0.0 <= v <= 1.0 for v in point):
                fail(
                    f"polygon[{j}]",
                    f"{list(point)} is outside the frame",
                    "coordinates are normalized: 0..1 of the width and the height, origin top-left",
                )
        if len(zone.polygon) < 3:
            fail("polygon", f"has {len(zone.polygon)} point(s); a zone needs at least 3")
        if problem := simple_polygon_problem(zone.polygon):
            fail("polygon", problem, "list the corners in order around the area, each once")


def config_warnings(config: Config) -> tuple[str, ...]:
    """What in a valid config may still fail on some setups, one line each (``check-config`` prints them)."""
    out = []
    cid = client_id(config)
    if "mqtt" in config.sinks and len(cid.encode()) > MQTT_GUARANTEED_CLIENT_ID:
        key = "mqtt.client_id" if config.mqtt.client_id else "device_id"
        out.append(
            f"{key}: the MQTT client id {cid[:40]!r}{'...' if len(cid) > 40 else ''} is "
            f"{len(cid.encode())} bytes; MQTT guarantees {MQTT_GUARANTEED_CLIENT_ID} (Mosquitto, EMQX "
            "and HiveMQ take longer ones), so a strict broker may refuse it: then set a shorter "
            "mqtt.client_id"
        )
    return tuple(out)


def redacted(config: Config) -> dict[str, Any]:
    """The config as plain data (as ``dataclasses.asdict``) with secrets hidden, for logs, `meta` and
    bench reports: a field declared ``secret`` becomes ``***`` when set, and every string has the
    password of a URL in it hidden (``rtsp://user:***@camera``)."""
    return _redacted(config)


def _redacted(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: (f.metadata.get("secret"), getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {name: HIDDEN if secret and v else _redacted(v) for name, (secret, v) in fields.items()}
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v) for v in value)
    return redact_text(value) if isinstance(value, str) else value
