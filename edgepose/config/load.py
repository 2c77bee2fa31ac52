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

from edgepose.config.sections import Config
from edgepose.config.validate import Where, build
from edgepose.errors import ConfigError
from edgepose.redact import HIDDEN, redact_text

CREDENTIAL_NAME = "mqtt_password"


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
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: malformed YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {type(data).__name__}")
    lines: dict[str, int] = {}
    _record_lines(node, "", lines, path)
    return data, Where(str(path), lines)


def _record_lines(node: Any, path: str, lines: dict[str, int], file: Path) -> None:
    """Note each key's line; refuse a key given twice in one mapping (YAML would keep the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            line = key.start_mark.line + 1
            if sub in seen:
                raise ConfigError(f"{file}:{line}: {sub}: duplicate key at lines {seen[sub]} and {line}",
                                  "keep one; YAML would silently use the last")  # fmt: skip
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
        value = yaml.safe_load(raw) if raw.strip() else ""
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
        raise ConfigError(f"{where.at('source.camera')}: source.camera: with cameras, each camera's name is its "
                          "key in cameras", "remove source.camera")  # fmt: skip
    top_uri = top_source.get("uri")
    own_uris = [isinstance(e, dict) and isinstance(e.get("source"), dict) and "uri" in e["source"]
                for e in cameras.values()]  # fmt: skip
    if top_uri not in (None, "auto") and all(own_uris):  # a --source, or a uri left over from one camera
        raise ConfigError(f"{where.at('source.uri')}: source.uri: {top_uri!r} is used by no camera: each of "
                          f"cameras names its own", "set cameras.<name>.source.uri (--set works too), or drop "
                          "source.uri (--source) with a cameras config")  # fmt: skip
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
            raise ConfigError(f"{where.at(path + '.source.camera')}: {path}.source.camera: the camera's name is "
                              f"its key ({name})", "remove it, or rename the key")  # fmt: skip
        own_decoder = entry.get("decoder")
        if isinstance(own_decoder, dict):
            for key in SHARED_DECODER_KEYS:
                if key in own_decoder:
                    at = where.at(f"{path}.decoder.{key}")
                    raise ConfigError(f"{at}: {path}.decoder.{key}: shared by every camera (one engine, one "
                                      "model input)", f"set decoder.{key} at the top level")  # fmt: skip
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
        verify_source(camera.source.uri, camera_key(config, camera))
    verify_cameras(config)
    verify_sinks(config.sinks)
    verify_mqtt(config, where or Where())
    verify_analysis(config, where or Where())
    return config


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
            return file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {file}: {exc.strerror}") from None
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
        raise ConfigError(f"service.preview.camera: {shown!r} is not one of the cameras",
                          "name a key of cameras, or leave it empty for the first")  # fmt: skip
    if not config.cameras:
        return
    seen: dict[str, str] = {}
    for name, camera in config.cameras.items():
        uri = camera.source.uri
        if uri == "auto":
            raise ConfigError(f"cameras.{name}.source.uri: auto: with several cameras each names its source",
                              "e.g. picamera2:0 and picamera2:1, /dev/video0, an rtsp:// URL or a file")  # fmt: skip
        device = "picamera2:0" if uri == "picamera2" else uri
        if LIVE_DEVICE.fullmatch(device):
            if device in seen:
                raise ConfigError(f"cameras.{name}.source.uri: {uri} is also camera {seen[device]}'s",
                                  "a camera device can be opened once")  # fmt: skip
            seen[device] = name


def verify_source(uri: str, key: str = "source") -> None:
    if not uri.strip():  # as a path, '' is the current directory: a run over whatever is there
        raise ConfigError(f"{key}.uri: empty", "pass --source FILE|DIR|DEVICE|URL, or set source.uri: auto")


def verify_sinks(sinks: Sequence[str]) -> None:
    if not sinks:  # a run that publishes nowhere is a mistake, not a mode
        raise ConfigError("sinks: empty: the poses would go nowhere", "list at least one of stdout, jsonl:PATH, mqtt")
    from edgepose.sinks.spec import parse_sink

    for i, sink in enumerate(sinks):
        parse_sink(sink, f"sinks[{i}]")


def verify_mqtt(config: Config, where: Where | None = None) -> None:
    m = config.mqtt
    from edgepose.mqtt.topics import expand_prefix

    try:
        expand_prefix(m.topic_prefix, config.device_id, config.site)
    except ConfigError as exc:  # say where: the file and line of mqtt.topic_prefix (or site)
        where = where or Where()
        key = "site" if "site is empty" in exc.message else "mqtt.topic_prefix"
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
        raise ConfigError(f"mqtt.buffer_bytes: {m.buffer_bytes} is below mqtt.max_payload {m.max_payload}",
                          "the buffer must hold at least one message of the largest size")  # fmt: skip
    from edgepose.config.cameras import camera_configs
    from edgepose.mqtt.topics import Topics

    for camera in camera_configs(config):
        Topics.from_config(camera)  # every topic edgepose publishes to must be valid


def verify_analysis(config: Config, where: Where) -> None:
    """Each zone: a name used once; a simple polygon of at least 3 points inside 0..1."""
    from edgepose.analysis.polygon import simple_polygon_problem

    seen: dict[str, int] = {}
    cameras = set(config.cameras)
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
            fail("name", f"{zone.name!r} is also the name of analysis.zones[{seen[zone.name]}]",
                 "zone names are topics and Home Assistant entities: each name once")  # fmt: skip
        seen[zone.name] = i
        if cameras and zone.camera and zone.camera not in cameras:
            fail("camera", f"{zone.camera!r} is not one of the cameras ({', '.join(sorted(cameras))})",
                 "name a key of cameras, or leave camera empty for every camera")  # fmt: skip
        for j, point in enumerate(zone.polygon):
            if len(point) != 2:
                fail(f"polygon[{j}]", f"{list(point)} is not a point [x, y]")
            if not all(0.0 <= v <= 1.0 for v in point):
                fail(f"polygon[{j}]", f"{list(point)} is outside the frame",
                     "coordinates are normalized: 0..1 of the width and the height, origin top-left")  # fmt: skip
        if len(zone.polygon) < 3:
            fail("polygon", f"has {len(zone.polygon)} point(s); a zone needs at least 3")
        if problem := simple_polygon_problem(zone.polygon):
            fail("polygon", problem, "list the corners in order around the area, each once")


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
