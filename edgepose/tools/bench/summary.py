"""The table a Pi user posts: the limit run and the daemon's footprint, one row per model and engine.

``edgepose bench --summary`` runs :func:`edgepose.tools.bench.limit.run_limit` (the pipeline against
the bare invoke loop, and the TF example's loop with ``--peer``) and
:func:`edgepose.tools.bench.footprint.measure` (the model as its own ``edgepose run`` at a camera's
pace) and joins them here. Of the limit run's pipeline variants a row keeps the one the daemon
would run for that engine (:func:`edgepose.pipeline.runner.overlap_for` on ``model.overlap``):
serial on the CPU, overlapped on an accelerator, unless the config says otherwise. The footprint is
a real daemon, so only the ``real`` engine has one; a stand-in row says so instead.

Joining and formatting are pure: they take the two runs' summaries and run nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgepose.config.sections import DecoderConfig
from edgepose.pipeline.runner import overlap_for
from edgepose.tools.bench.footprint import Footprint, cell

NO_DAEMON = "n/a (stand-in)"  # why a stand-in engine's row has no footprint


@dataclass(frozen=True)
class Row:
    """One model x engine x thread count. fps in frames a second; ratios unitless; the footprint's
    CPU in ms a frame at ``fps_cap``, memory in MB (2**20 bytes), first documents in seconds."""

    model: str
    engine: str  # "real" or a stand-in such as "sleep:7ms"
    accelerator: str  # what ran the real engine (cpu, edgetpu); "sleep" for the stand-in
    threads: int
    schedule: str  # the pipeline variant the daemon runs here: "serial" or "overlap"
    fps: float
    bare_fps: float
    ratio: float | None  # fps / bare fps
    peer_fps: float | None
    vs_peer: float | None  # fps / peer fps
    peer_note: str  # why there is no peer ('' when there is one)
    kernel: str | None  # the decoder kernels the daemon ran (numba, numpy); None without a footprint
    fps_cap: float | None
    cpu_ms_per_frame: float | None
    daemon_fps: float | None  # documents a second the daemon gave (at most the cap)
    pss_mb: float | None
    first_document_cold: float | None
    first_document_warm: float | None
    footprint_note: str  # why there is no footprint ('' when there is one)


def schedule(limit_summary: Mapping[str, Any], overlap_mode: str) -> str:
    """The variant the daemon would run for this summary's accelerator under ``model.overlap``."""
    return "overlap" if overlap_for(overlap_mode, limit_summary["accelerator"]) else "serial"


def join(limit_summary: Mapping[str, Any], footprint: Footprint | None, overlap_mode: str) -> Row:
    """One row from one :func:`~edgepose.tools.bench.limit.summary` and the footprint of the same model
    and thread count (None for a stand-in engine, which no daemon runs)."""
    s = limit_summary
    name = schedule(s, overlap_mode)
    v = s["variants"][name]
    f = footprint
    return Row(
        model=s["model"],
        engine=s["engine"],
        accelerator=s["accelerator"],
        threads=s["threads"],
        schedule=name,
        fps=v["fps"],
        bare_fps=s["bare_fps"],
        ratio=v["ratio"],
        peer_fps=s["peer_fps"],
        vs_peer=v["vs_peer"],
        peer_note=s["peer_note"],
        kernel=None if f is None else f.kernel,
        fps_cap=None if f is None else f.fps_cap,
        cpu_ms_per_frame=None if f is None else f.cpu_ms_per_frame,
        daemon_fps=None if f is None else f.fps,
        pss_mb=None if f is None else f.pss_mb,
        first_document_cold=None if f is None else f.first_document_cold,
        first_document_warm=None if f is None else f.first_document_warm,
        footprint_note="" if f is not None else NO_DAEMON,
    )


HEAD = (
    "model",
    "engine",
    "threads",
    "schedule",
    "fps",
    "bare fps",
    "ratio",
    "peer fps",
    "vs peer",
    "kernels",
    "CPU ms a frame",
    "daemon fps",
    "PSS MB",
    "first document cold s",
    "warm s",
)


def markdown(rows: Sequence[Row]) -> str:
    """One line per row; where a figure could not be had, the reason (no peer, no daemon) or ``-``."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in rows:
        engine = r.engine if r.engine != "real" else f"real ({r.accelerator})"
        peer = r.peer_note if r.peer_fps is None else f"{r.peer_fps:.1f}"
        cpu = r.footprint_note or cell(r.cpu_ms_per_frame)
        daemon = "-" if r.fps_cap is None else f"{cell(r.daemon_fps)} (cap {r.fps_cap:g})"
        cells = [r.model, engine, str(r.threads), r.schedule, f"{r.fps:.1f}", f"{r.bare_fps:.1f}", _ratio(r.ratio)]
        cells += [peer, _ratio(r.vs_peer), r.kernel or "-", cpu, daemon, cell(r.pss_mb)]
        cells += [cell(r.first_document_cold), cell(r.first_document_warm)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def as_dicts(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def daemon_kernel(decoder: DecoderConfig) -> str:
    """The kernel set ``decoder.kernel`` resolves to on this board (``auto``: Numba where it imports
    and the board has 1 GiB or more), named so the footprint's daemon runs what the table says."""
    from edgepose.kernels import load_kernels

    return load_kernels(decoder.kernel, decoder.numba_cache_dir).kind
