"""Builds typed config sections from plain YAML data, or says exactly what is wrong.

Errors name the key path, the value and what is allowed, plus the YAML line when known, e.g.::

    config.yaml:12: model.threads: 0 is below the minimum 1
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from edgepose.errors import ConfigError


@dataclasses.dataclass
class Where:
    """Where a value came from: file name and a map of key path to line number."""

    source: str = "command line"
    lines: dict[str, int] = dataclasses.field(default_factory=dict)

    def at(self, path: str) -> str:
        line = self.lines.get(path)
        return f"{self.source}:{line}" if line else self.source


def build(cls: type, data: Any, path: str = "", where: Where | None = None) -> Any:
    """Return ``cls(**data)`` with every field checked; unknown keys are refused."""
    where = where or Where()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _fail(where, path, f"{_show(data)} is not a mapping", "expected a section of keys")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(fields)}"
            _fail(where, _join(path, str(key)), "unknown key", hint)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], _join(path, name), f.metadata, where)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        _fail(where, path or "<root>", str(exc), None)


def _convert(tp: Any, value: Any, path: str, meta: typing.Mapping[str, Any], where: Where) -> Any:
    if meta.get("secret"):  # a password given as a number or a list must not be echoed in the error
        try:
            return _convert(tp, value, path, {**meta, "secret": False}, where)
        except ConfigError:
            if isinstance(value, str):
                _fail(where, path, "the value (hidden: a secret) is not allowed", None)
            _fail(where, path, f"the value (hidden: a secret) is a {_kind(value)}, not a string", "quote it in YAML")
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, path, meta, where)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        allowed = get_args(tp)
        if isinstance(value, bool) and {"on", "off"} <= set(allowed):
            value = "on" if value else "off"  # YAML 1.1 reads a bare on/off (and yes/no) as a boolean
        if value not in allowed or type(value) is not type(allowed[0]):
            _fail(where, path, f"{_show(value)} is not allowed", "allowed: " + ", ".join(map(_show, allowed)))
        return value
    if origin is dict:  # a map of named sections (cameras): string keys matching the field's pattern
        _key_tp, item_tp = get_args(tp)
        if value is None:  # `cameras:` with nothing under it, as an empty section is its defaults
            value = {}
        if not isinstance(value, dict):
            _fail(where, path, f"{_show(value)} is not a mapping", "expected name: {...} entries")
        pattern = meta.get("pattern")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):  # YAML reads a bare 0, 1.5 or yes as a number or a boolean
                what = f"{_show(key)} is not a name (YAML read it as {type(key).__name__})"
                _fail(where, _join(path, str(key)), what, "quote it in YAML, e.g. '0':")
            if pattern and not re.fullmatch(pattern, key):
                _fail(where, _join(path, str(key)), f"{_show(key)} is not a valid name", f"names match {pattern}")
            out[key] = _convert(item_tp, item, _join(path, key), {}, where)
        return out
    if origin in (list, tuple):
        (item_tp, *_rest) = get_args(tp)
        if not isinstance(value, list):
            _fail(where, path, f"{_show(value)} is not a list", None)
        return tuple(_convert(item_tp, v, f"{path}[{i}]", {}, where) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path, where)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(where, path, f"{_show(value)} is not a boolean", "use true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, path, f"{_show(value)} is not a whole number", None)
        return _bounded(value, path, meta, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            _fail(where, path, f"{_show(value)} is not a number", None)
        return _bounded(float(value), path, meta, where)
    if tp is str:
        if not isinstance(value, str):
            _fail(where, path, f"{_show(value)} is not a string", "quote it in YAML")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            _fail(where, path, f"{_show(value)} does not match {pattern}", None)
        return value
    raise TypeError(f"config field {path} has an unsupported type {tp!r}")  # a bug, not user input


def _bounded(value: float, path: str, meta: typing.Mapping[str, Any], where: Where) -> Any:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        _fail(where, path, f"{value} is below the minimum {lo}", f"allowed: {lo}..{hi if hi is not None else ''}")
    if hi is not None and value > hi:
        _fail(where, path, f"{value} is above the maximum {hi}", f"allowed: {lo if lo is not None else ''}..{hi}")
    return value


def _kind(value: Any) -> str:
    """What YAML made of a value, in words, without the value itself."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return "null" if value is None else type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _fail(where: Where, path: str, what: str, hint: str | None) -> typing.NoReturn:
    raise ConfigError(f"{where.at(path)}: {path}: {what}", hint)
