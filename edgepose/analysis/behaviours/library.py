"""The pose library: a directory of named reference poses, one readable JSON file each.

``<library>/<name>.json``::

    {
      "schema": "edgepose.pose/1",
      "name": "tree",
      "added": "2026-12-01T23:40:00Z",
      "source": {"image": "/home/pi/tree.jpg", "model": "movenet_single_pose_lightning_ptq"},
      "score": 0.76,
      "keypoints": {"nose": [0.031, -0.412, 0.75], ...}
    }

``keypoints`` are normalized as :func:`edgepose.analysis.behaviours.similarity.normalize` does (centred on
the pose's keypoint box, the 34 coordinates of unit L2 norm) with each keypoint's confidence; a
file edited by hand is normalized again when loaded. Names are topic-safe (they end up in events,
topics and entity ids): letters, digits, ``_`` and ``-``, at most 64.

A library that holds unreadable or corrupt files still loads its good entries; each bad file is
reported as a :class:`Problem` (file and why) for the caller to show or refuse. What another program
may have put there is refused the same way, never opened in a way that hangs or crashes: a FIFO or
device named ``x.json`` (not a regular file), a file over :data:`MAX_BYTES`, NaN, 1e400 or 100,000
nested ``[`` (:mod:`edgepose.strict_json`), keypoints too large to normalize (1e308).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edgepose import strict_json
from edgepose.analysis.behaviours.settings import NAME
from edgepose.analysis.behaviours.similarity import Normalized, normalize
from edgepose.errors import EX_USAGE, EdgeposeError, InputError
from edgepose.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

SCHEMA = "edgepose.pose/1"
SUFFIX = ".json"
MAX_BYTES = 1 << 20  # a pose file is about 1.5 KB; anything past this is not one
MAX_COORDINATE = 1e9  # pixels of any frame, or normalized values, are far below it


class LibraryUsageError(EdgeposeError):
    """A request the library refuses as asked: a bad name, a name taken without replace."""

    exit_code = EX_USAGE


@dataclass(frozen=True, slots=True)
class Entry:
    """One reference pose. ``keypoints``: ``(17, 3)`` normalized (x, y) and confidence."""

    name: str
    keypoints: np.ndarray
    source: dict[str, Any]
    added: str  # ISO 8601, UTC
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A file of the library that could not be used, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Loaded:
    """The usable entries, sorted by name, their arrays for matching, and the files that were not usable."""

    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    def normalized(self) -> Normalized:
        """``(L, 17, ...)`` arrays for :func:`edgepose.analysis.behaviours.similarity.best_match`."""
        if not self.entries:
            return Normalized(np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros((0, NUM_KEYPOINTS)))
        return normalize(np.stack([e.keypoints for e in self.entries]))


def check_name(name: str) -> str:
    if not re.fullmatch(NAME, name):
        raise LibraryUsageError(
            f"{name!r} is not a pose name", "letters, digits, _ and - (starting with a letter or digit), at most 64"
        )
    return name


def entry_from_pose(
    name: str, keypoints: np.ndarray, source: dict[str, Any], now: datetime, score: float | None = None
) -> Entry:
    """A new entry from a ``(17, 3)`` pose in any unit (pixels of its image, usually)."""
    check_name(name)
    n = _normalized(np.asarray(keypoints, np.float64), InputError)
    kp = np.concatenate([n.xy[0], n.conf[0][:, None]], axis=1)
    added = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Entry(name, kp, dict(source), added, None if score is None else float(score))


def _normalized(keypoints: np.ndarray, error: type[Exception]) -> Normalized:
    """``normalize`` of a pose whose values are finite and not huge (1e308 overflows): else ``error``."""
    if keypoints.shape != (NUM_KEYPOINTS, 3) or not np.isfinite(keypoints).all():
        raise error("keypoints: NaN or inf")
    if np.abs(keypoints[:, :2]).max() > MAX_COORDINATE:  # its squares overflow, or it is no place in a frame
        raise error(f"keypoints: a coordinate beyond ±{MAX_COORDINATE:g} (too large to normalize)")
    return normalize(keypoints)


def to_json(entry: Entry) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "name": entry.name,
        "added": entry.added,
        "source": entry.source,
        "score": None if entry.score is None else round(entry.score, 4),
        "keypoints": {
            name: [round(float(x), 5), round(float(y), 5), round(float(c), 4)]
            for name, (x, y, c) in zip(KEYPOINT_NAMES, entry.keypoints, strict=True)
        },
    }


def from_json(data: Any, name: str) -> Entry:
    """An entry from a file's parsed JSON; ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"schema is {data.get('schema')!r}, expected {SCHEMA!r}")
    if data.get("name") != name:
        raise ValueError(f"its name {data.get('name')!r} is not its file name {name!r}")
    kp = data.get("keypoints")
    if not isinstance(kp, dict):
        raise ValueError("keypoints: not an object of keypoint name -> [x, y, confidence]")
    missing = [k for k in KEYPOINT_NAMES if k not in kp]
    extra = [k for k in kp if k not in KEYPOINT_NAMES]
    if missing or extra:
        raise ValueError(f"keypoints: missing {missing}, unknown {extra}")
    rows = []
    for k in KEYPOINT_NAMES:
        v = kp[k]
        if (
            not isinstance(v, list)
            or len(v) != 3
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        ):
            raise ValueError(f"keypoints.{k}: not [x, y, confidence] numbers")
        rows.append(v)
    arr = np.asarray(rows, np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("keypoints: NaN or inf")
    if not ((arr[:, 2] >= 0) & (arr[:, 2] <= 1)).all():
        raise ValueError("keypoints: a confidence outside 0..1")
    n = _normalized(arr, ValueError)
    if not n.xy.any():
        raise ValueError("keypoints: all at one point")
    source = data.get("source", {})
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        score = None
    return Entry(
        name,
        np.concatenate([n.xy[0], arr[:, 2:]], axis=1),
        source if isinstance(source, dict) else {},
        str(data.get("added", "")),
        None if score is None else float(score),
    )


def dumps(data: dict[str, Any]) -> str:
    """Indented JSON with each keypoint's ``[x, y, confidence]`` on its own line (one line per keypoint)."""
    text = json.dumps(data, indent=2)
    return (
        re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + ", ".join(v.strip() for v in m[1].split(",")) + "]", text)
        + "\n"
    )


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """A regular file's bytes; ``ValueError`` for anything else (a FIFO would block ``open``, a
    device read forever) and for a file over ``limit``. Opened without blocking, then checked."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("cannot read: not a regular file (a directory, a FIFO, a device)")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes: larger than a pose file can be ({limit})")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"larger than a pose file can be ({limit} bytes)")
    return data


class PoseLibrary:
    """The library in one directory (which need not exist until the first pose is added)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_of(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}{SUFFIX}"

    def load(self) -> Loaded:
        """Every entry; files that cannot be used become :class:`Problem` values, never exceptions."""
        if not self.directory.exists():
            return Loaded((), ())
        if not self.directory.is_dir():
            raise InputError(f"pose library {self.directory} is not a directory")
        entries, problems = [], []
        try:
            files = sorted(p for p in self.directory.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))
        except OSError as exc:
            raise InputError(f"cannot read the pose library {self.directory}: {exc.strerror or exc}") from None
        for path in files:
            try:
                entries.append(self._read(path))
            except ValueError as exc:
                problems.append(Problem(path, str(exc)))
        return Loaded(tuple(entries), tuple(problems))

    def _read(self, path: Path) -> Entry:
        name = path.stem
        if not re.fullmatch(NAME, name):
            raise ValueError("its file name is not a pose name (letters, digits, _ and -)")
        try:
            data = read_bytes(path)
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
        except OSError as exc:
            raise ValueError(f"cannot read: {exc.strerror or exc}") from None
        try:
            value = strict_json.loads(text)
        except strict_json.BadJSONError as exc:
            what = "NaN or inf, which JSON has not" if exc.cause == "non-finite number" else exc.cause
            raise ValueError(f"not JSON ({what}: {exc})") from None
        return from_json(value, name)

    def add(self, entry: Entry, replace: bool = False) -> Path:
        """Write an entry; a name already taken is refused unless ``replace``. Written whole or not at all."""
        path = self.path_of(entry.name)
        if path.exists() and not replace:
            raise LibraryUsageError(
                f"a pose named {entry.name!r} is already in {self.directory}",
                "pass --replace to overwrite it, or choose another name",
            )
        text = dumps(to_json(entry))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                Path(tmp).replace(path)  # atomic: a reader never sees half a file
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
        return path

    def remove(self, name: str) -> Path:
        """Delete an entry (a corrupt one too: the way to clear it); InputError if there is none."""
        path = self.path_of(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise InputError(f"no pose named {name!r} in {self.directory}", "see `edgepose poses list`") from None
        except OSError as exc:
            raise InputError(f"cannot remove {path}: {exc.strerror or exc}") from None
        return path
