"""``edgepose bench``: the benchmark table for this board, camera and config.

Exit status: 0 when done; 3 when ``--compare`` flags a regression (so a script or CI can stop on
it); the usual codes (66, 69, 78) for bad inputs, or when no configuration could run at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from edgepose.cli import add_config, add_verbosity, log_level, yaml_quote
from edgepose.config import load_config
from edgepose.config.sections import Config
from edgepose.errors import ConfigError
from edgepose.logs import counted, setup_logging
from edgepose.redact import redact_text

log = logging.getLogger(__name__)

EX_REGRESSION = 3
DEFAULT_THREADS = (1, 2, 4)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure latency, fps and memory per model, accelerator and thread count")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--models", metavar="A,B", help="models (names or paths); default: model.name from the config")
    p.add_argument("--threads", metavar="1,2,4", help="thread counts; default: 1,2,4")
    p.add_argument(
        "--accelerators",
        metavar="cpu,edgetpu",
        help="accelerators; default: cpu, and edgetpu when an Edge TPU is present",
    )
    p.add_argument("--frames", type=int, default=100, metavar="N", help="measured frames per stage (default 100)")
    p.add_argument("--warmup", type=int, default=10, metavar="N", help="warm-up frames before each stage (default 10)")
    p.add_argument("--source", metavar="SRC", help="frames to use (source.uri); default: the configured source")
    p.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="SINK",
        help="sinks to publish to (default: the configured ones, stdout sent to the null device); "
        "--footprint, --summary: the daemons publish to these beside stdout (mqtt: as on a Pi)",
    )
    p.add_argument(
        "--engine",
        metavar="real,sleep:7ms",
        help="instead of the table: pipeline fps (serial and overlapped) against the bare invoke loop "
        "of each engine, interleaved; real: the model on the CPU; sleep:7ms: a stand-in invoke that "
        "sleeps (GIL released) and replays the model's outputs on the source's frames",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        metavar="S",
        help="--engine: seconds per variant over all rounds; --footprint: the measuring window; "
        "--summary: both (default 8)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=8,
        metavar="N",
        help="--engine, --summary: rounds, each running every variant in turn (default 8)",
    )
    p.add_argument(
        "--footprint",
        action="store_true",
        help="instead of the table: each model (and --kernels) as a daemon on the looping --source at --fps-cap: "
        "PSS, CPU ms a frame, first document with a cold and a warm Numba cache",
    )
    p.add_argument(
        "--summary",
        action="store_true",
        help="instead of the table: --engine's limit run (the schedule the daemon picks) and --footprint "
        "(the kernel set decoder.kernel picks) for each model, joined into one table: the one to post in an issue",
    )
    p.add_argument("--kernels", metavar="numba,numpy", default="numba,numpy", help="--footprint: kernel sets")
    p.add_argument(
        "--fps-cap", type=float, default=15.0, metavar="FPS", help="--footprint, --summary: camera pace (default 15)"
    )
    p.add_argument(
        "--peer",
        type=Path,
        metavar="DIR",
        help="--engine, --summary: also run the TensorFlow Raspberry Pi example's MoveNet loop from DIR (a copy of "
        "its movenet.py and data.py) and print the ratio to it",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="write every figure and the environment as JSON")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one CSV row per configuration")
    p.add_argument("--plot", type=Path, metavar="PATH", help="write a PNG (needs the 'plot' extra: matplotlib)")
    p.add_argument("--compare", type=Path, metavar="OLD.json", help="show the change against an earlier --json run")
    p.add_argument(
        "--threshold",
        type=float,
        default=10.0,
        metavar="PERCENT",
        help="--compare flags figures worse by more than this (default 10)",
    )
    p.set_defaults(func=bench)


def split_list(text: str | None, what: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in (text or "").split(",") if s.strip())
    if text is not None and not items:
        raise ConfigError(f"--{what}: empty list")
    return items


def parse_threads(text: str | None) -> tuple[int, ...]:
    if text is None:
        return DEFAULT_THREADS
    try:
        values = tuple(int(v) for v in split_list(text, "threads"))
    except ValueError:
        raise ConfigError(f"--threads: {text!r} is not a comma-separated list of integers") from None
    if any(v < 1 or v > 64 for v in values):
        raise ConfigError(f"--threads: {text!r}: each must be in 1..64")
    return values


def parse_accelerators(text: str | None) -> tuple[str, ...]:
    if text is None:
        from edgepose.tools.bench.runner import edgetpu_present

        return ("cpu", "edgetpu") if edgetpu_present() else ("cpu",)
    values = split_list(text, "accelerators")
    bad = [v for v in values if v not in ("cpu", "edgetpu")]
    if bad:
        raise ConfigError(f"--accelerators: {', '.join(bad)} is not an accelerator", "allowed: cpu, edgetpu")
    return values


def bench(args: argparse.Namespace) -> int:
    # Not shortcut_overrides: bench's --threads and --models are lists over runs, not config keys.
    overrides = ([f"source.uri={yaml_quote(args.source)}"] if args.source else []) + list(args.overrides)
    config = load_config(args.config, overrides)
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    from edgepose.tools.bench import Plan, run_bench
    from edgepose.tools.bench import report as rep
    from edgepose.tools.bench.runner import stderr_progress

    if args.frames < 1 or args.warmup < 0:
        raise ConfigError(f"--frames must be at least 1 and --warmup at least 0 (got {args.frames}, {args.warmup})")
    if args.summary:
        if args.footprint:
            raise ConfigError("--summary and --footprint: choose one", "--summary measures the footprint too")
        return summary_bench(args, config)
    if args.footprint:
        return footprint_bench(args, config)
    if args.engine is not None:
        return limit_bench(args, config)
    old = rep.load_json(args.compare) if args.compare else None  # fail before a long run, not after
    plan = Plan(
        models=split_list(args.models, "models") or (config.model.name,),
        accelerators=parse_accelerators(args.accelerators),
        threads=parse_threads(args.threads),
        frames=args.frames,
        warmup=args.warmup,
        sinks=tuple(args.sink),
    )
    progress = stderr_progress if not args.quiet else (lambda _message: None)
    report = run_bench(config, plan, progress)
    data = rep.to_dict(report)
    sys.stdout.write(rep.markdown_table(data))
    if args.json:
        rep.write_json(report, args.json)
        log.info("wrote %s", args.json)
    if args.csv:
        rep.write_csv(data, args.csv)
        log.info("wrote %s", args.csv)
    if args.plot:
        rep.write_plot(data, args.plot)
        log.info("wrote %s", args.plot)
    if old is not None:
        changes, notes = rep.compare(old, data, args.threshold)
        sys.stdout.write("\n" + rep.comparison_table(changes, notes, args.threshold))
        flagged = [c for c in changes if c.regression]
        if flagged:
            log.warning(
                "%s by more than %g%%", counted(len(flagged), "figure regressed", "figures regressed"), args.threshold
            )
            return EX_REGRESSION
    return 0


def engines_arg(args: argparse.Namespace, default: str | None = None) -> tuple[str, ...]:
    """``--engine`` checked before anything loads, with ``--seconds`` and ``--rounds``."""
    from edgepose.inference.standin import parse_sleep

    engines = split_list(args.engine if args.engine is not None else default, "engine")
    for engine in engines:
        if engine != "real":
            parse_sleep(engine)  # refuse a bad spec before loading anything
    if args.seconds <= 0 or args.rounds < 1:
        raise ConfigError(f"--seconds must be positive and --rounds at least 1 (got {args.seconds}, {args.rounds})")
    return engines


def check_fps_cap(args: argparse.Namespace) -> None:
    if not 0 < args.fps_cap <= 240 or args.seconds <= 0:
        raise ConfigError(f"--fps-cap must be in (0, 240] and --seconds positive (got {args.fps_cap}, {args.seconds})")


def with_source(config: Config) -> tuple[str, Config]:
    """The source's uri (``auto`` resolved to the camera or the sample image) and the config naming it."""
    from edgepose.app import resolve_source_uri

    uri = resolve_source_uri(config)
    return uri, dataclasses.replace(config, source=dataclasses.replace(config.source, uri=uri))


def write_report(path: Path | None, uri: str, **parts: object) -> None:
    """``--json``: the source (credentials blanked) and the run's parts."""
    import json

    if path is not None:
        path.write_text(json.dumps({"source": redact_text(uri), **parts}, indent=2) + "\n")
        log.info("wrote %s", path)


def limit_bench(args: argparse.Namespace, config: Config) -> int:
    """``--engine``: the pipeline against its limit, the bare loop of the same engine (``bench.limit``)."""
    from edgepose.app import build_estimator
    from edgepose.tools.bench import limit
    from edgepose.tools.bench.runner import predecode

    engines = engines_arg(args)
    uri, config = with_source(config)
    images, _ = predecode(config, args.frames)
    summaries = limit.run_limit(
        config,
        split_list(args.models, "models") or (config.model.name,),
        engines,
        parse_threads(args.threads or str(config.model.threads)),
        images,
        args.seconds,
        args.rounds,
        build_estimator,
        args.peer,
    )
    sys.stdout.write(limit.markdown(summaries))
    write_report(args.json, uri, configurations=summaries)
    return 0


def footprint_bench(args: argparse.Namespace, config: Config) -> int:
    """``--footprint``: each model and kernel set as its own daemon process (``bench.footprint``)."""
    from edgepose.tools.bench import footprint

    kernels = split_list(args.kernels, "kernels")
    for kernel in kernels:
        if kernel not in ("numba", "numpy"):
            raise ConfigError(f"--kernels: {kernel!r} is not a kernel set", "use numba, numpy or both")
    check_fps_cap(args)
    uri, _ = with_source(config)
    rows = [
        footprint.measure(model, kernel, uri, args.fps_cap, args.seconds, extra=args.overrides, sinks=args.sink)
        for model in split_list(args.models, "models") or (config.model.name,)
        for kernel in kernels
    ]
    sys.stdout.write(footprint.markdown(rows))
    write_report(args.json, uri, footprint=footprint.as_dicts(rows))
    return 0


def check_found(config: Config, models: tuple[str, ...]) -> None:
    """Refuse a model that is in no model directory now, not after the models before it ran for minutes."""
    from edgepose.app import model_dirs
    from edgepose.inference.accelerator import resolve_pair

    for model in models:
        pair = resolve_pair(dataclasses.replace(config.model, name=model), model_dirs(config))
        if pair.cpu is None and pair.edgetpu is None and pair.cpu_error is not None:
            raise pair.cpu_error


def summary_bench(args: argparse.Namespace, config: Config) -> int:
    """``--summary``: per model, the limit run and then each real engine's footprint at the same thread
    count and accelerator, joined into one row per model x engine x threads (``bench.summary``).

    The limit run is per model, so its summaries are that model's alone; its variants and the
    footprint's daemon run in turn, never at the same time, so neither loads the other's cores.
    """
    from edgepose.app import build_estimator
    from edgepose.tools.bench import footprint, limit, summary
    from edgepose.tools.bench.runner import predecode, stderr_progress

    engines = engines_arg(args, default="real")
    check_fps_cap(args)
    progress = stderr_progress if not args.quiet else (lambda _message: None)
    uri, config = with_source(config)
    images, _ = predecode(config, args.frames)
    threads = parse_threads(args.threads or str(config.model.threads))
    kernel = summary.daemon_kernel(config.decoder)
    models = split_list(args.models, "models") or (config.model.name,)
    check_found(config, models)
    rows, limits, prints = [], [], []
    for model in models:
        progress(f"{model}: limit run, {args.seconds:g} s a variant over {args.rounds} rounds")
        summaries = limit.run_limit(
            config, (model,), engines, threads, images, args.seconds, args.rounds, build_estimator, args.peer
        )
        for s in summaries:
            measured = None
            if s["engine"] == "real":
                progress(f"{model}: footprint at {s['threads']} thread(s), {kernel} kernels, cap {args.fps_cap:g} fps")
                at = [f"model.threads={s['threads']}", f"model.accelerator={s['accelerator']}"]
                measured = footprint.measure(
                    model, kernel, uri, args.fps_cap, args.seconds, extra=[*args.overrides, *at], sinks=args.sink
                )
                prints.append(measured)
            rows.append(summary.join(s, measured, config.model.overlap))
        limits += summaries
    sys.stdout.write(summary.markdown(rows))
    write_report(
        args.json, uri, summary=summary.as_dicts(rows), configurations=limits, footprint=footprint.as_dicts(prints)
    )
    return 0
