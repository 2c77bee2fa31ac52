"""Writing the documented default config from the schema itself.

``config/edgepose.yaml`` is this module's output (``edgepose check-config --write-default``); a test
keeps the two identical, so every key, default, limit and doc line in that file is the schema's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from edgepose.config.sections import Config

HEADER = """\
# edgepose configuration: every key, its default and what it does.
# Validate with `edgepose check-config -c FILE` (exit 0, or 78 with the key that is wrong).
# Any key can be overridden on the command line: edgepose run --set model.threads=2
# This file is generated from the schema: edgepose check-config --write-default config/edgepose.yaml
"""


def reference_yaml() -> str:
    lines = [HEADER]
    _section(Config, Config(), 0, lines)
    return "\n".join(lines).rstrip() + "\n"


def _section(cls: type, value: Any, depth: int, lines: list[str]) -> None:
    hints = get_type_hints(cls)
    pad = "  " * depth
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        current = getattr(value, f.name)
        doc = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(tp):
            if depth == 0:
                lines.append("")
            lines.append(f"{pad}# {doc}")
            lines.append(f"{pad}{f.name}:")
            _section(tp, current, depth + 1, lines)
            continue
        note = _allowed(tp, f.metadata)
        lines.append(f"{pad}# {doc}{' [' + note + ']' if note else ''}")
        lines.append(f"{pad}{f.name}: {_scalar(current)}")
        item = get_args(tp)[0] if get_origin(tp) is tuple else None
        if item is not None and dataclasses.is_dataclass(item):
            _items(item, pad, lines)


def _items(cls: type, pad: str, lines: list[str]) -> None:
    """The keys of each entry of a list of sections (e.g. ``analysis.zones``), as comments."""
    hints = get_type_hints(cls)
    lines.append(f"{pad}# each entry:")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        note = _allowed(hints[f.name], f.metadata)
        doc = f.metadata.get("doc", "") + (f" [{note}]" if note else "")
        lines.append(f"{pad}#   {f.name}: {_scalar(default)}  # {doc}")


def _allowed(tp: Any, meta: dict[str, Any]) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(_scalar(v) for v in get_args(tp))
    if get_origin(tp) is Union:
        return ""
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return ""
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)
