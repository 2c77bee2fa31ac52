"""Sink specs as the config and ``--sink`` write them: ``stdout``, ``mqtt``, ``jsonl:PATH[?mode=a|w]``.

``mode=a`` (the default) appends, so a file can collect several runs; ``mode=w`` starts the file
afresh at every start, so it holds one run (what ``annotate --from-jsonl`` needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgepose.errors import ConfigError

ALLOWED = "allowed: stdout, jsonl:PATH, jsonl:PATH?mode=w, mqtt"
JSONL_MODES = ("a", "w")


@dataclass(frozen=True)
class SinkSpec:
    """One parsed sink spec; ``path`` and ``mode`` only for ``jsonl``."""

    kind: Literal["stdout", "jsonl", "mqtt"]
    path: str = ""
    mode: str = "a"


def parse_sink(spec: str, where: str = "sink") -> SinkSpec:
    """The spec's parts, or :class:`ConfigError` naming ``where`` (e.g. ``sinks[1]``)."""
    kind, _, arg = spec.partition(":")
    if kind in ("stdout", "mqtt") and not arg:
        return SinkSpec(kind)  # type: ignore[arg-type]
    if kind != "jsonl":
        raise ConfigError(f"{where}: {spec!r} is not a sink", ALLOWED)
    path, _, query = arg.partition("?")
    if not path:
        raise ConfigError(f"{where}: {spec!r} is not a sink (no path)", ALLOWED)
    mode = "a"
    for option in filter(None, query.split("&")):
        name, _, value = option.partition("=")
        if name != "mode":
            raise ConfigError(f"{where}: {spec!r}: unknown option {name!r}", "jsonl takes ?mode=a or ?mode=w")
        if value not in JSONL_MODES:
            raise ConfigError(f"{where}: {spec!r}: mode must be a (append) or w (start afresh), not {value!r}")
        mode = value
    return SinkSpec("jsonl", path, mode)
