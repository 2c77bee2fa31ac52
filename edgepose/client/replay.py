"""Reading recorded JSON-lines files back, in capture order and at capture pace.

Each line is one document (poses, events, stats: the ``schema`` field says which) with its
capture time ``ts``. Several files are merged by ``ts`` (each file is in order already, as
``edgepose record`` writes it), so a recorded fleet is replayed as it happened. A line that is
not a document is counted by cause and skipped, with its file and line number for the first few.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose.errors import ConfigError, InputError
from edgepose.mqtt.topics import Topics

KIND_OF_SCHEMA = {"edgepose.poses/1": "poses", "edgepose.events/1": "events", "edgepose.stats/1": "stats"}
EXAMPLES = 5  # bad lines quoted by file:line in the report


@dataclass(frozen=True)
class Recorded:
    """One document read from a file: where it was, when it was captured and what it is."""

    path: Path
    line: int
    ts: float
    device: str
    camera: str
    kind: str
    payload: bytes = field(repr=False)


@dataclass
class ReadReport:
    """Lines read and the bad ones by cause (``not JSON``, ``no schema``, ``schema``...)."""

    lines: int = 0
    documents: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def reject(self, path: Path, line: int, cause: str, detail: str) -> None:
        self.bad[cause] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{path}:{line}: {detail}")

    @property
    def total_bad(self) -> int:
        return sum(self.bad.values())


def read_file(path: Path, report: ReadReport,
              validators: Mapping[str, Callable[[Any], str | None]] | None = None) -> Iterator[Recorded]:  # fmt: skip
    """The documents of one file, in file order; bad lines go to ``report``."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "give a file edgepose record wrote") from None
    with f:
        for number, raw in enumerate(f, 1):
            report.lines += 1
            text = raw.strip()
            if not text:
                report.reject(path, number, "empty", "an empty line")
                continue
            try:
                doc = json.loads(text)
            except (ValueError, UnicodeDecodeError) as exc:
                report.reject(path, number, "not JSON", f"not JSON ({exc})")
                continue
            kind = KIND_OF_SCHEMA.get(doc.get("schema")) if isinstance(doc, dict) else None
            if kind is None:
                what = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
                report.reject(path, number, "no schema", f"not a poses, events or stats document ({what!r})")
                continue
            problem = validators[kind](doc) if validators is not None else None
            if problem is None and not (isinstance(doc.get("ts"), int | float) and doc.get("device")
                                        and doc.get("camera")):  # fmt: skip
                problem = "needs ts, device and camera"
            if problem:
                report.reject(path, number, "schema", problem)
                continue
            report.documents += 1
            yield Recorded(path, number, float(doc["ts"]), doc["device"], doc["camera"], kind, bytes(text))


def merged(paths: Iterable[Path], report: ReadReport,
           validators: Mapping[str, Callable[[Any], str | None]] | None = None) -> Iterator[Recorded]:  # fmt: skip
    """Every file's documents merged by ``ts`` (ties keep the order of ``paths``)."""
    streams = [read_file(p, report, validators) for p in paths]
    return heapq.merge(*streams, key=lambda r: r.ts)


def paced(items: Iterable[Recorded], speed: float, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[Recorded]:  # fmt: skip
    """Yield each item when its turn comes: ``(ts - first ts) / speed`` s after the first.

    ``speed`` 0 yields as fast as the consumer takes them. A ``ts`` earlier than the last one
    (the daemon restarted, its clock was set back) is not waited for.
    """
    if speed < 0:
        raise ConfigError("--speed must be 0 (as fast as possible) or positive")
    start: tuple[float, float] | None = None
    for item in items:
        if speed > 0:
            if start is None:
                start = (clock(), item.ts)
            due = start[0] + (item.ts - start[1]) / speed
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        yield item


def topic_for(prefix: str, item: Recorded) -> str:
    """The topic a document goes to: ``prefix`` is ``mqtt.topic_prefix`` (``{device}`` filled in)."""
    base = prefix.replace("{device}", item.device).rstrip("/")
    if re.search(r"\{\w+\}", base):
        raise ConfigError(f"topic prefix {prefix!r}: only {{device}} can be filled in from a recorded document",
                          "give --prefix with the other levels written out")  # fmt: skip
    return str(getattr(Topics(base, item.camera), item.kind))  # the daemon's own layout
