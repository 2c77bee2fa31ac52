"""Reading recorded JSON-lines files back, in capture order and at capture pace.

Each line is one document (poses, events, stats: the ``schema`` field says which) with its
capture time ``ts``. Several files are merged by ``ts`` (each file is in order already, as
``edgepose record`` writes it), so a recorded fleet is replayed as it happened. A line that is
not a document is counted by cause and skipped, with its file and line number for the first few:
not JSON (NaN, 1e400 and 100,000 nested ``[`` included), no schema, a device or camera that is
no name (:mod:`edgepose.names`: ``a+b`` would be a wildcard in the topic it goes to), a ``ts``
that is no time.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepose import strict_json
from edgepose.client.documents import MAX_TS
from edgepose.errors import ConfigError, InputError
from edgepose.mqtt.topics import Topics
from edgepose.names import name_problem

KIND_OF_SCHEMA = {"edgepose.poses/1": "poses", "edgepose.events/1": "events", "edgepose.stats/1": "stats"}
EXAMPLES = 5  # bad lines quoted by file:line in the report
MAX_SLEEP = 3600.0  # s: a long wait is slept in parts (threading's limit; a stop is seen between them)


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


def read_file(
    path: Path, report: ReadReport, validators: Mapping[str, Callable[[Any], str | None]] | None = None
) -> Iterator[Recorded]:
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
                doc = strict_json.loads(text)
            except strict_json.BadJSONError as exc:
                report.reject(path, number, "not JSON", f"not JSON ({exc.cause}: {exc})")
                continue
            schema = doc.get("schema") if isinstance(doc, dict) else None
            kind = KIND_OF_SCHEMA.get(schema) if isinstance(schema, str) else None
            if kind is None:
                what = schema if isinstance(doc, dict) else type(doc).__name__
                report.reject(path, number, "no schema", f"not a poses, events or stats document ({what!r})")
                continue
            problem = validators[kind](doc) if validators is not None else None
            ts = doc.get("ts")
            if problem is None and (isinstance(ts, bool) or not isinstance(ts, int | float) or not 0 <= ts <= MAX_TS):
                problem = f"ts {ts!r} is not a time (Unix seconds, 0..{MAX_TS:.0f})"
            if problem:
                report.reject(path, number, "schema", problem)
                continue
            problem = name_problem(doc.get("device"), "device") or name_problem(doc.get("camera"), "camera")
            if problem:
                report.reject(path, number, "bad name", problem)
                continue
            report.documents += 1
            yield Recorded(path, number, float(doc["ts"]), doc["device"], doc["camera"], kind, bytes(text))


def merged(
    paths: Iterable[Path], report: ReadReport, validators: Mapping[str, Callable[[Any], str | None]] | None = None
) -> Iterator[Recorded]:
    """Every file's documents merged by ``ts`` (ties keep the order of ``paths``)."""
    streams = [read_file(p, report, validators) for p in paths]
    return heapq.merge(*streams, key=lambda r: r.ts)


def paced(
    items: Iterable[Recorded],
    speed: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[Recorded]:
    """Yield each item when its turn comes: ``(ts - first ts) / speed`` s after the first.

    ``speed`` 0 yields as fast as the consumer takes them. A ``ts`` earlier than the last one
    (the daemon restarted, its clock was set back) is not waited for.
    """
    check_speed(speed)
    start: tuple[float, float] | None = None
    for item in items:
        if speed > 0:
            if start is None:
                start = (clock(), item.ts)
            due = start[0] + (item.ts - start[1]) / speed
            wait = due - clock()
            while wait > 0:
                part = min(wait, MAX_SLEEP)
                if sleep(part) or part == wait:  # a sleep returning True was cut short by a stop
                    break
                wait = due - clock()
        yield item


def check_speed(speed: float) -> float:
    """``speed`` if it is a pace (0: as fast as possible, else a finite positive factor)."""
    if not (speed == 0 or 0 < speed < math.inf):  # also NaN
        raise ConfigError(f"--speed must be 0 (as fast as possible) or a positive finite factor, not {speed}")
    return speed


def topic_for(prefix: str, item: Recorded) -> str:
    """The topic a document goes to: ``prefix`` is ``mqtt.topic_prefix`` (``{device}`` filled in)."""
    base = prefix.replace("{device}", item.device).rstrip("/")
    if re.search(r"\{\w+\}", base):
        raise ConfigError(
            f"topic prefix {prefix!r}: only {{device}} can be filled in from a recorded document",
            "give --prefix with the other levels written out",
        )
    return str(getattr(Topics(base, item.camera), item.kind))  # the daemon's own layout
