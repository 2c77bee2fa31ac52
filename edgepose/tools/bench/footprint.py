"""What a model costs the board as a daemon: memory, CPU at a camera's pace, time to its first document.

Each measurement is its own ``edgepose run`` process, so one model's memory is not another's: the
looping video paced at its native rate and capped at ``fps`` frames a second (a camera's pace, not
as fast as possible), the documents to stdout, tracking on as configured.

- first document: seconds from the process's start to its first line, once with an empty Numba
  cache (cold: what the first start after an install costs) and again with the cache that run
  left (warm: every later start);
- PSS (``/proc/PID/smaps_rollup``: shared pages divided among the processes that map them, so what
  the daemon adds to the board) and RSS, at the end of the measuring window. The bench itself is a
  Python process with NumPy, OpenCV and LiteRT loaded: every library page it shares with the daemon
  would halve the daemon's share of it (9-13 MB less PSS than the daemon holds alone). So the
  daemon's mappings of the files the bench maps are counted whole (:func:`bench_share_kb`), as on
  a board where the daemon runs alone; libc's pages, shared there with the system's processes too,
  are then counted whole as well, so the figure errs high by a megabyte or two;
- CPU ms a frame: the process's user + system time over the window, divided by the documents in it.

The daemon runs with the environment the service unit gives it (:data:`UNIT_ENVIRONMENT`: two
malloc arenas), so the figures are those of the installed service.

On a Pi: ``edgepose bench --footprint --models movenet_lightning_int8 --source clip.mp4``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from edgepose.errors import InputError
from edgepose.inference.residency import parse_maps

# What systemd/edgepose.service sets for the daemon's memory (glibc's malloc arenas): the bench
# measures the daemon as the unit runs it. The caller's own environment wins, to try other values.
UNIT_ENVIRONMENT = {"MALLOC_ARENA_MAX": "2"}

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Footprint:
    """One model and kernel set as a daemon. Times in seconds, memory in MB (2**20 bytes)."""

    model: str
    kernel: str
    fps_cap: float
    first_document_cold: float | None
    first_document_warm: float | None
    pss_mb: float | None  # as if the daemon ran alone (see the module docstring)
    rss_mb: float | None
    cpu_ms_per_frame: float | None
    fps: float | None  # documents a second in the window (at most the cap)
    sinks: tuple[str, ...] = ("stdout",)  # where the daemon published
    pss_beside_bench_mb: float | None = None  # PSS as read, the bench's share of common pages taken off


@dataclass(frozen=True)
class Sample:
    """One daemon run: when its first document came, and the window's figures."""

    first_document: float | None
    pss_mb: float | None  # as if alone: the pages shared with the bench counted whole
    rss_mb: float | None
    cpu_seconds: float
    frames: int
    seconds: float
    pss_beside_bench_mb: float | None = None  # as /proc reads it with the bench beside the daemon


def memory_mb(smaps_rollup: Path) -> tuple[float | None, float | None]:
    """(PSS, RSS) in MB from a ``/proc/PID/smaps_rollup``; None for what it does not give."""
    try:
        text = smaps_rollup.read_text()
    except OSError:
        return None, None
    found: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Pss", "Rss") and rest.split():
            found[key] = int(rest.split()[0]) / 1024  # kB
    return found.get("Pss"), found.get("Rss")


def file_mappings(maps: str) -> set[tuple[tuple[int, int], int]]:
    """(device, inode) of every file a ``/proc/PID/maps`` text maps (inode 0: anonymous, left out)."""
    return {(m.device, m.inode) for m in parse_maps(maps) if m.inode}


def bench_share_kb(smaps: str, bench_files: set[tuple[tuple[int, int], int]]) -> int:
    """kB of PSS the daemon's ``/proc/PID/smaps`` text lost to sharing the files ``bench_files``
    with the bench: for each mapping of such a file, its Rss less its Pss."""
    total, shared, rss = 0, False, 0
    for line in smaps.splitlines():
        key, _, rest = line.partition(":")
        if key == "Rss" and shared:
            rss = int(rest.split()[0])
        elif key == "Pss" and shared:
            total += rss - int(rest.split()[0])
        elif header := next(parse_maps(line), None):  # a mapping's line, as in /proc/PID/maps
            shared = (header.device, header.inode) in bench_files
    return total


def pss_alone_mb(proc_dir: Path, own_maps: Path = Path("/proc/self/maps")) -> float | None:
    """The daemon's PSS in MB with its share of the pages it has in common with the bench given
    back (:func:`bench_share_kb`); None where ``/proc`` does not say."""
    pss, _ = memory_mb(proc_dir / "smaps_rollup")
    if pss is None:
        return None
    try:
        lost = bench_share_kb((proc_dir / "smaps").read_text(), file_mappings(own_maps.read_text()))
    except OSError:
        return None
    return pss + lost / 1024


def cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds of a process from its ``/proc/PID/stat`` (0 when it is gone)."""
    try:
        text = stat.read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


class _Lines:
    """Counts a child's stdout lines on a thread and keeps the time of the first."""

    def __init__(self, stream: IO[bytes], clock: Callable[[], float]) -> None:
        self.count = 0
        self.first: float | None = None
        self._clock = clock
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for _line in stream:
            if self.first is None:
                self.first = self._clock()
            self.count += 1

    def join(self) -> None:
        self._thread.join(timeout=5)


def daemon_argv(
    model: str, kernel: str, source: str, fps: float, cache_dir: Path, extra: Sequence[str], sinks: Sequence[str] = ()
) -> list[str]:
    """``edgepose run`` on ``source`` looping at its native pace, capped at ``fps``, documents to
    stdout (which the bench counts) and to ``sinks`` as well (``mqtt``: what a daemon on a Pi runs)."""
    sets = [
        f"cameras.cam0.source.uri={source}",
        "cameras.cam0.source.loop=true",
        "cameras.cam0.source.realtime=true",
        f"cameras.cam0.fps_cap={fps}",
        f"decoder.kernel={kernel}",
        f"decoder.numba_cache_dir={cache_dir}",
        *extra,
    ]
    argv = [sys.executable, "-m", "edgepose", "run", "-q", "--model", model, "--sink", "stdout"]
    for sink in dict.fromkeys(s for s in sinks if s != "stdout"):
        argv += ["--sink", sink]
    for s in sets:
        argv += ["--set", s]
    return argv


def daemon_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment: ``base`` (this process's by default) with :data:`UNIT_ENVIRONMENT`
    where ``base`` does not set those variables itself."""
    return {**UNIT_ENVIRONMENT, **(os.environ if base is None else base)}


def run_once(
    argv: Sequence[str], settle: float, seconds: float, timeout: float = 600.0, env: Mapping[str, str] | None = None
) -> Sample:
    """Start the daemon, wait for its first document and ``settle`` more seconds, then measure ``seconds``.

    ``env``: the daemon's environment; by default :func:`daemon_env`, as the service unit starts it.
    """
    clock = time.monotonic
    t0 = clock()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon_env() if env is None else dict(env)
    )
    if proc.stdout is None or proc.stderr is None:  # pragma: no cover - PIPE gives both
        raise RuntimeError("no pipes to the daemon")
    lines = _Lines(proc.stdout, clock)
    proc_dir = Path(f"/proc/{proc.pid}")
    try:
        while lines.first is None and proc.poll() is None and clock() - t0 < timeout:
            time.sleep(0.01)
        if lines.first is None:
            code = proc.poll()
            how = f"exited with {code}" if code is not None else f"gave no document within {timeout:g} s"
            proc.kill()
            err = [e for e in proc.stderr.read().decode(errors="replace").strip().splitlines() if "edgepose" in e]
            said = f": {err[-1]}" if err else ""
            raise InputError(f"the daemon ({' '.join(argv[4:7])}) {how}{said}")
        time.sleep(settle)
        cpu0, frames0, w0 = cpu_seconds(proc_dir / "stat"), lines.count, clock()
        time.sleep(seconds)
        cpu1, frames1, w1 = cpu_seconds(proc_dir / "stat"), lines.count, clock()
        read, rss = memory_mb(proc_dir / "smaps_rollup")
        alone = pss_alone_mb(proc_dir)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        lines.join()
    return Sample(lines.first - t0, alone, rss, cpu1 - cpu0, frames1 - frames0, w1 - w0, read)


def measure(
    model: str,
    kernel: str,
    source: str,
    fps: float = 15.0,
    seconds: float = 10.0,
    settle: float = 2.0,
    extra: Sequence[str] = (),
    sinks: Sequence[str] = (),
) -> Footprint:
    """One model and kernel set: a cold start (empty Numba cache), then a warm one that is measured."""
    with tempfile.TemporaryDirectory(prefix="edgepose-footprint-") as cache:
        argv = daemon_argv(model, kernel, source, fps, Path(cache), extra, sinks)
        cold = run_once(argv, settle=0.0, seconds=0.0)
        warm = run_once(argv, settle, seconds)
    cpu_ms = warm.cpu_seconds * 1e3 / warm.frames if warm.frames else None
    fps_seen = warm.frames / warm.seconds if warm.seconds else None
    first = (_round(cold.first_document, 2), _round(warm.first_document, 2))
    memory = (_round(warm.pss_mb, 1), _round(warm.rss_mb, 1))
    published = ("stdout", *dict.fromkeys(s for s in sinks if s != "stdout"))
    figures = (_round(cpu_ms, 2), _round(fps_seen, 1), published, _round(warm.pss_beside_bench_mb, 1))
    return Footprint(model, kernel, fps, *first, *memory, *figures)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def markdown(rows: Sequence[Footprint]) -> str:
    """The table a Pi user posts: one row per model and kernel set; a sinks column when some daemon
    published beyond stdout (MQTT's client and ``ssl`` are memory too)."""
    shown = any(r.sinks != ("stdout",) for r in rows)
    head = "| model | kernels | PSS MB | RSS MB | CPU ms a frame | at fps | first document cold s | warm s |"
    lines = [head + " sinks |" if shown else head, "|---|---|---|---|---|---|---|---|" + ("---|" if shown else "")]
    for r in rows:
        cells = [r.model, r.kernel, cell(r.pss_mb), cell(r.rss_mb), cell(r.cpu_ms_per_frame)]
        cells += [f"{cell(r.fps)} (cap {r.fps_cap:g})", cell(r.first_document_cold), cell(r.first_document_warm)]
        if shown:
            cells.append(", ".join(r.sinks))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cell(value: float | None) -> str:
    """A figure as the tables print it; ``-`` for one that was not measured."""
    return "-" if value is None else f"{value:g}"


def as_dicts(rows: Sequence[Footprint]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
