"""The typed documents a subscriber gets, parsed from one MQTT message and checked once.

Each JSON document is validated against its committed schema (``edgepose/schema/*.json``); the
typed fields are the ones a consumer reaches for, and ``doc`` keeps the whole document. A message
that is not what its topic promises becomes an :class:`Invalid` with the reason: reported in the
stream, never raised, so one bad publisher cannot stop a consumer of the whole fleet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgepose import strict_json
from edgepose.errors import ConfigError, UnavailableError
from edgepose.names import is_camera_name, name_problem
from edgepose.schema import load_schema

KINDS = ("poses", "events", "stats", "meta", "available")
SCHEMAS = {"poses": "poses.v1.json", "events": "events.v1.json", "stats": "stats.v1.json", "meta": "meta.v1.json"}
CAMERA_KINDS = frozenset({"poses", "events"})  # published under <prefix>/<camera>/<kind>


@dataclass(frozen=True)
class Poses:
    """One processed frame (``edgepose.poses/1``); coordinates are pixels of the source frame."""

    topic: str
    device: str
    camera: str
    frame: int
    ts: float  # capture time, Unix s
    poses: list[dict[str, Any]]  # highest score first; each has id, score, box, keypoints (17 x [x, y, score])
    doc: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Event:
    """One analysis event (``edgepose.events/1``): a fall, a repetition, a zone entered..."""

    topic: str
    device: str
    camera: str
    frame: int
    ts: float
    kind: str
    doc: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Stats:
    """The periodic figures of one device (``edgepose.stats/1``)."""

    topic: str
    device: str
    camera: str
    ts: float
    processed_fps: float
    doc: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Meta:
    """What a device runs (``edgepose.meta/1``, retained): model, input size, keypoint names."""

    topic: str
    device: str
    camera: str
    model: str
    doc: dict[str, Any] = field(repr=False)
    site: str = ""  # the device's site, "" when it has none
    cameras: tuple[str, ...] = ()  # the cameras the device publishes (older documents: none listed)


@dataclass(frozen=True)
class Availability:
    """A device's retained ``online``/``offline`` (also its last will)."""

    topic: str
    device: str
    online: bool


@dataclass(frozen=True)
class Invalid:
    """A message that could not be taken as its topic's document, and why."""

    topic: str
    device: str
    reason: str
    payload: bytes = field(repr=False)
    cause: str = "invalid"  # the kind of refusal, to count by: "not JSON", "schema", "bad name"...


Document = Poses | Event | Stats | Meta | Availability


@dataclass(frozen=True)
class TopicLayout:
    """Where a fleet's documents are: ``prefix`` is the daemon's ``mqtt.topic_prefix`` with
    ``{device}`` (and any other ``{name}``, such as ``{site}``) standing for one topic level."""

    prefix: str = "edgepose/{device}"

    def __post_init__(self) -> None:
        if "{device}" not in self.prefix:
            raise ConfigError(
                f"client prefix {self.prefix!r} has no {{device}} placeholder", "the default is edgepose/{device}"
            )
        if any(c in self.prefix for c in "+#"):
            raise ConfigError(f"client prefix {self.prefix!r} holds a wildcard: use {{device}} and other placeholders")

    def filters(self, kinds: tuple[str, ...], device: str = "+", camera: str = "+", **levels: str) -> list[str]:
        """The subscription filters for ``kinds`` of ``device`` (a name or ``+``) and ``camera``."""
        prefix = self.prefix.replace("{device}", device)
        prefix = re.sub(r"\{(\w+)\}", lambda m: levels.get(m.group(1), "+"), prefix)
        return [f"{prefix}/{camera}/{k}" if k in CAMERA_KINDS else f"{prefix}/{k}" for k in kinds]

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """``(device, camera, kind)`` of a topic in this layout (camera "" for device-wide), or None."""
        match = self._pattern().fullmatch(topic)
        if match is None:
            return None
        rest = match.group("rest").split("/")
        if len(rest) == 1 and rest[0] in KINDS and rest[0] not in CAMERA_KINDS:
            return match.group("device"), "", rest[0]
        if len(rest) == 2 and rest[1] in CAMERA_KINDS:
            return match.group("device"), rest[0], rest[1]
        return None

    def _pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(\{\w+\})", self.prefix)
        regex = "".join(
            "(?P<device>[^/]+)" if p == "{device}" else "[^/]+" if re.fullmatch(r"\{\w+\}", p) else re.escape(p)
            for p in parts
        )
        return re.compile(regex + "/(?P<rest>.+)")


def schema_validators() -> dict[str, Callable[[Any], str | None]]:
    """One check per kind: the first schema error as one line (with its path), or None."""
    try:
        import jsonschema
    except ImportError:
        raise UnavailableError(
            "validating documents needs jsonschema", "pip install 'edgepose[client]', or pass validate=False"
        ) from None

    def make(name: str) -> Callable[[Any], str | None]:
        schema = load_schema(name)
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())

        def check(doc: Any) -> str | None:
            where = strict_json.non_finite(doc)  # JSON has no NaN or inf; Python's json reads them
            if where is not None:
                return f"{name}: {where.lstrip('/') or '(document)'}: not a finite number"
            error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
            if error is None:
                return None
            where = "/".join(str(p) for p in error.absolute_path) or "(document)"
            return f"{name}: {where}: {error.message}"

        return check

    return {kind: make(name) for kind, name in SCHEMAS.items()}


def parse_message(
    topic: str,
    payload: bytes,
    device: str,
    camera: str,
    kind: str,
    validators: Mapping[str, Callable[[Any], str | None]] | None,
) -> Document | Invalid:
    """The document of one message whose topic the layout placed as ``(device, camera, kind)``.

    Never raises on what the message holds: anything that is not its topic's document (not JSON,
    NaN, nested 100,000 deep, a field of the wrong type, a name that is no name) is an
    :class:`Invalid` whose ``cause`` names the kind of refusal."""
    for name, what in ((device, "device"), (camera, "camera")):
        problem = name_problem(name, what) if name or what == "device" else None
        if problem:
            return Invalid(topic, device, f"its topic's {problem}", payload, "bad name")
    if kind == "available":
        text = payload.decode("utf-8", "replace").strip()
        if text not in ("online", "offline"):
            return Invalid(
                topic, device, f"availability is {text[:40]!r}, not online or offline", payload, "not online or offline"
            )
        return Availability(topic, device, text == "online")
    try:
        doc = strict_json.loads(payload)
    except strict_json.BadJSONError as exc:
        return Invalid(topic, device, f"{exc.cause}: {exc}", payload, exc.cause)
    if validators is not None:
        problem = validators[kind](doc)
        if problem:
            return Invalid(topic, device, problem, payload, "schema")
    elif not isinstance(doc, dict):
        return Invalid(
            topic, device, f"a {kind} document is a JSON object, not {type(doc).__name__}", payload, "not an object"
        )
    try:
        return _typed(topic, kind, camera, doc)
    except _FieldError as exc:
        return Invalid(topic, device, f"{kind}: {exc}", payload, exc.cause)


MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z: the last second a date (and a day's file name) can hold
MAX_FRAME = 2**63 - 1


class _FieldError(ValueError):
    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause


def _field(doc: dict[str, Any], key: str) -> Any:
    if key not in doc:
        raise _FieldError("missing field", f"no {key!r}")
    return doc[key]


def _name(doc: dict[str, Any], what: str) -> str:
    value = _field(doc, what)
    problem = name_problem(value, what)
    if problem:
        raise _FieldError("bad name", problem)
    return value


def _number(doc: dict[str, Any], key: str, low: float, high: float) -> float:
    value = _field(doc, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _FieldError("bad field", f"{key} is {type(value).__name__}, not a number")
    if not low <= value <= high:  # also NaN, which compares false
        raise _FieldError("out of range", f"{key} {value!r} is outside {low:g}..{high:g}")
    return float(value)


def _frame(doc: dict[str, Any]) -> int:
    value = _field(doc, "frame")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError("bad field", f"frame is {type(value).__name__}, not an integer")
    if not 0 <= value <= MAX_FRAME:
        raise _FieldError("out of range", f"frame {value} is outside 0..2**63-1")
    return value


def _text(doc: dict[str, Any], key: str, default: str | None = None) -> str:
    value = doc.get(key, default) if default is not None else _field(doc, key)
    if not isinstance(value, str):
        raise _FieldError("bad field", f"{key} is {type(value).__name__}, not a string")
    return value


def _typed(topic: str, kind: str, topic_camera: str, doc: dict[str, Any]) -> Document:
    device = _name(doc, "device")
    camera = _name(doc, "camera")
    if kind in CAMERA_KINDS and camera != topic_camera:  # the topic says whose it is; the document must agree
        raise _FieldError("wrong camera", f"the document says camera {camera!r}, its topic {topic_camera!r}")
    if kind == "poses":
        poses = _field(doc, "poses")
        if not isinstance(poses, list) or not all(isinstance(p, dict) for p in poses):
            raise _FieldError("bad field", "poses is not a list of objects")
        return Poses(topic, device, camera, _frame(doc), _number(doc, "ts", 0, MAX_TS), poses, doc)
    if kind == "events":
        return Event(topic, device, camera, _frame(doc), _number(doc, "ts", 0, MAX_TS), _text(doc, "kind"), doc)
    if kind == "stats":
        fps = _number(doc, "processed_fps", 0, float("inf"))
        return Stats(topic, device, camera, _number(doc, "ts", 0, MAX_TS), fps, doc)
    cameras = doc.get("cameras", [])
    if not isinstance(cameras, list) or not all(is_camera_name(c) for c in cameras):
        raise _FieldError("bad field", "cameras is not a list of camera names")
    return Meta(topic, device, camera, _text(doc, "model"), doc, _text(doc, "site", ""), tuple(cameras))
