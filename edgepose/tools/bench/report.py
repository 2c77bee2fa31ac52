"""Writing a benchmark: the Markdown table, JSON, CSV, the plot, and the comparison with an earlier run.

The JSON holds every figure (and the raw invoke samples) so a later ``--compare`` or plot needs
nothing else; the table and the CSV are views of the same rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepose.errors import InputError, UnavailableError
from edgepose.tools.bench.figures import Report

SCHEMA = "edgepose.tools.bench/1"
MB = 1024 * 1024


def to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON data (what ``--json`` writes and ``--compare`` reads)."""
    data = dataclasses.asdict(report)
    return {"schema": SCHEMA, **data}


def write_json(report: Report, path: Path) -> None:
    _write(path, json.dumps(to_dict(report), indent=2, allow_nan=False) + "\n")


def load_json(path: Path) -> dict[str, Any]:
    """An earlier ``--json`` file; :class:`InputError` when it is missing or not a bench report."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"benchmark file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read benchmark file {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("rows"), list):
        raise InputError(f"{path} is not an edgepose bench report (schema {SCHEMA})", "write one with --json")
    return data


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def get(row: Mapping[str, Any], path: Sequence[str]) -> Any:
    """``row[a][b]...``, or None where any step is missing (a figure that was not measured)."""
    value: Any = row
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mb(value: Any) -> str:
    return "-" if value is None else f"{value / MB:.0f}"


def markdown_table(data: Mapping[str, Any]) -> str:
    """The Markdown table of a report's rows (``to_dict`` form), with the host facts above it."""
    env = data.get("environment", {})
    lines = [
        f"board: {env.get('board') or 'unknown'} ({env.get('machine')}, {env.get('cpus')} CPUs), "
        f"governor: {env.get('governor') or 'unknown'}, runtime: {env.get('runtime')} {env.get('runtime_version')}, "
        f"source: {env.get('source')} {env.get('frame_size')}, frames: {get(data, ('plan', 'frames'))} "
        f"after {get(data, ('plan', 'warmup'))} warm-up",
        "",
        "| model | size MB | accel | threads | invoke p50/p95/p99 ms | invoke fps | pre ms | decode ms | track ms "
        "| publish ms | fps pre-decoded | fps source | latency p50/p99 ms | RSS peak/steady MB | temp °C |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in data.get("rows", []):
        if row.get("status") != "ok":
            lines.append(
                f"| {row['model']} | - | {row['accelerator']} | {row['threads']} | "
                f"{row.get('status')}: {row.get('error')} |" + " |" * 10
            )
            continue
        name = Path(row.get("model_file") or row["model"]).stem
        accel = row.get("ran_on") or row["accelerator"]
        inv = row.get("invoke_ms") or {}
        pre = row.get("predecoded") or {}
        src = row.get("source") or {}
        lat = src.get("latency_ms") or {}
        size = row.get("model_size_bytes")
        temps = f"{_fmt(row.get('temp_start_c'))}→{_fmt(row.get('temp_end_c'))}"
        cells = [
            name,
            "-" if size is None else f"{size / MB:.1f}",
            accel,
            str(row["threads"]),
            f"{_fmt(inv.get('p50'))} / {_fmt(inv.get('p95'))} / {_fmt(inv.get('p99'))}",
            _fmt(row.get("invoke_fps")),
            _fmt(get(pre, ("preprocess_ms", "p50")), 2),
            _fmt(get(pre, ("decode_ms", "p50")), 2),
            _fmt(get(pre, ("track_ms", "p50")), 2),
            _fmt(get(pre, ("publish_ms", "p50")), 2),
            _fmt(pre.get("fps")),
            _fmt(src.get("fps")),
            f"{_fmt(lat.get('p50'))} / {_fmt(lat.get('p99'))}",
            f"{_mb(row.get('rss_peak_bytes'))} / {_mb(row.get('rss_steady_bytes'))}",
            "-" if row.get("temp_start_c") is None else temps,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for warning in data.get("warnings", []):
        lines.append(f"\nwarning: {warning}")
    return "\n".join(lines) + "\n"


# Flat CSV columns: (header, path into a row).
CSV_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", ("model",)),
    ("model_file", ("model_file",)),
    ("model_size_bytes", ("model_size_bytes",)),
    ("accelerator", ("accelerator",)),
    ("ran_on", ("ran_on",)),
    ("threads", ("threads",)),
    ("status", ("status",)),
    ("error", ("error",)),
    ("invoke_ms_p50", ("invoke_ms", "p50")),
    ("invoke_ms_p95", ("invoke_ms", "p95")),
    ("invoke_ms_p99", ("invoke_ms", "p99")),
    ("invoke_fps", ("invoke_fps",)),
    ("preprocess_ms_p50", ("predecoded", "preprocess_ms", "p50")),
    ("decode_ms_p50", ("predecoded", "decode_ms", "p50")),
    ("track_ms_p50", ("predecoded", "track_ms", "p50")),
    ("publish_ms_p50", ("predecoded", "publish_ms", "p50")),
    ("fps_predecoded", ("predecoded", "fps")),
    ("frame_ms_p50_predecoded", ("predecoded", "frame_ms", "p50")),
    ("fps_source", ("source", "fps")),
    ("latency_ms_p50", ("source", "latency_ms", "p50")),
    ("latency_ms_p99", ("source", "latency_ms", "p99")),
    ("skipped_source", ("source", "skipped")),
    ("failed_source", ("source", "failed")),
    ("rss_peak_bytes", ("rss_peak_bytes",)),
    ("rss_steady_bytes", ("rss_steady_bytes",)),
    ("temp_start_c", ("temp_start_c",)),
    ("temp_end_c", ("temp_end_c",)),
)


def csv_text(data: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for row in data.get("rows", []):
        writer.writerow(["" if (v := get(row, path)) is None else v for _, path in CSV_COLUMNS])
    return out.getvalue()


def write_csv(data: Mapping[str, Any], path: Path) -> None:
    _write(path, csv_text(data))


def _label(row: Mapping[str, Any]) -> str:
    """Model name wrapped at underscores (file names run to 50 characters), then accelerator and threads."""
    name = Path(row.get("model_file") or row["model"]).stem
    wrapped = textwrap.fill(name.replace("_", " "), 18).replace(" ", "_")
    return f"{wrapped}\n{row.get('ran_on') or row['accelerator']} t{row['threads']}"


def write_plot(data: Mapping[str, Any], path: Path) -> None:
    """A PNG: invoke latency distribution per configuration (left), fps against threads (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on a Pi service account
        import matplotlib.pyplot as plt
    except ImportError:
        raise UnavailableError(
            "--plot needs matplotlib, which is not installed", "pip install 'edgepose[plot]'"
        ) from None
    rows = [r for r in data.get("rows", []) if r.get("status") == "ok" and r.get("invoke_samples_ms")]
    if not rows:
        raise InputError("nothing to plot: no configuration ran")
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, 1.6 * len(rows) + 5), 5))
    left.boxplot([r["invoke_samples_ms"] for r in rows], showfliers=True)
    left.set_xticks(range(1, len(rows) + 1), [_label(r) for r in rows], fontsize=7)
    left.set_ylabel("invoke latency, ms")
    left.set_title("invoke latency per configuration")
    series: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        series.setdefault(f"{Path(r.get('model_file') or r['model']).stem} {r.get('ran_on')}", []).append(r)
    for name, group in series.items():
        group = sorted(group, key=lambda r: r["threads"])
        threads = [r["threads"] for r in group]
        right.plot(threads, [r.get("invoke_fps") for r in group], "o-", label=f"{name}: invoke")
        right.plot(threads, [get(r, ("predecoded", "fps")) for r in group], "s--", label=f"{name}: pipeline")
    right.set_xticks(sorted({r["threads"] for r in rows}))
    right.set_xlabel("threads")
    right.set_ylabel("frames per second")
    right.set_title("fps against threads")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class Metric:
    """A figure compared between runs; ``higher_is_worse`` for latencies and memory."""

    name: str
    path: tuple[str, ...]
    higher_is_worse: bool


COMPARED = (
    Metric("invoke p50 ms", ("invoke_ms", "p50"), True),
    Metric("invoke p99 ms", ("invoke_ms", "p99"), True),
    Metric("fps pre-decoded", ("predecoded", "fps"), False),
    Metric("fps source", ("source", "fps"), False),
    Metric("latency p50 ms", ("source", "latency_ms", "p50"), True),
    Metric("RSS peak", ("rss_peak_bytes",), True),
)


@dataclass(frozen=True)
class Change:
    key: tuple[str, str, int]  # model, accelerator, threads
    metric: str
    old: float
    new: float
    percent: float  # (new - old) / old * 100
    regression: bool


def _key(row: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(row["model"]), str(row["accelerator"]), int(row["threads"]))


def compare(
    old: Mapping[str, Any], new: Mapping[str, Any], threshold: float, metrics: Sequence[Metric] = COMPARED
) -> tuple[list[Change], list[str]]:
    """Changes of every figure present in both runs, flagged where worse by more than ``threshold`` percent.

    Also returns notes for configurations present in only one run.
    """
    old_rows = {_key(r): r for r in old.get("rows", []) if r.get("status") == "ok"}
    new_rows = {_key(r): r for r in new.get("rows", []) if r.get("status") == "ok"}
    changes = []
    for key, row in new_rows.items():
        before = old_rows.get(key)
        if before is None:
            continue
        for metric in metrics:
            a, b = get(before, metric.path), get(row, metric.path)
            if not isinstance(a, int | float) or not isinstance(b, int | float) or a == 0:
                continue
            percent = (b - a) / abs(a) * 100.0
            worse = percent if metric.higher_is_worse else -percent
            changes.append(Change(key, metric.name, float(a), float(b), round(percent, 2), worse > threshold))
    notes = [f"only in the new run: {'/'.join(map(str, k))}" for k in new_rows if k not in old_rows]
    notes += [f"only in the old run: {'/'.join(map(str, k))}" for k in old_rows if k not in new_rows]
    return changes, notes


def comparison_table(
    changes: Sequence[Change],
    notes: Sequence[str],
    threshold: float,
    fmt: Callable[[float], str] = lambda v: f"{v:.4g}",
) -> str:
    lines = [
        f"change against the earlier run (regression: worse by more than {threshold:g}%)",
        "",
        "| model | accel | threads | figure | old | new | change | |",
        "|---|---|--:|---|--:|--:|--:|---|",
    ]
    for c in changes:
        flag = "REGRESSION" if c.regression else ""
        lines.append(
            f"| {c.key[0]} | {c.key[1]} | {c.key[2]} | {c.metric} | {fmt(c.old)} | {fmt(c.new)} | "
            f"{c.percent:+.1f}% | {flag} |"
        )
    lines += notes
    return "\n".join(lines) + "\n"
