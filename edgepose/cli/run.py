"""``edgepose run``: the daemon, or a one-off run over an image, a directory or a video."""

from __future__ import annotations

import argparse
import logging
import math

from edgepose.cli import add_config, add_verbosity, log_level, shortcut_overrides
from edgepose.config import load_config
from edgepose.errors import ConfigError
from edgepose.logs import setup_logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the pose pipeline")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--source", metavar="SRC", help="image file, directory of images or video file (source.uri)")
    p.add_argument("--model", metavar="PATH|NAME", help="model file or manifest name (model.name)")
    p.add_argument("--accelerator", choices=["cpu", "edgetpu", "auto"], help="model.accelerator")
    p.add_argument("--threads", type=int, metavar="N", help="model.threads")
    p.add_argument(
        "--sink", action="append", metavar="SINK", help="stdout, jsonl:PATH or mqtt (repeatable; replaces sinks)"
    )
    p.add_argument(
        "--events",
        action="store_true",
        help="also write analysis events to the stdout and jsonl sinks (analysis.event_lines)",
    )
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N processed frames")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.set_defaults(func=run)


def check_limits(max_frames: int | None, duration: float | None) -> None:
    """Refuse limits that would let no frame through: 0 or less, and NaN (which never compares true)."""
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames: {max_frames} is below the minimum 1", "leave it out to run to the end")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise ConfigError(
            f"--duration: {duration:g} is not a number of seconds above 0", "leave it out to run to the end"
        )


def run_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """``run``'s own flags as overrides (before the shortcuts and ``--set``)."""
    return ("analysis.event_lines=true",) if getattr(args, "events", False) else ()


def run(args: argparse.Namespace) -> int:
    check_limits(args.max_frames, args.duration)
    config = load_config(args.config, shortcut_overrides(args, *run_flags(args)))
    setup_logging(log_level(args, config.logging.level), config.logging.format)
    # The service layer: signals (SIGTERM stops, SIGHUP reloads), systemd notify and watchdog,
    # the health endpoint. Without systemd it runs the same way, silently.
    from edgepose.service.daemon import serve
    from edgepose.service.heap import pin_mmap_threshold

    pin_mmap_threshold()  # before a model is read: see edgepose.service.heap

    return serve(
        config,
        max_frames=args.max_frames,
        duration=args.duration,
        load=lambda: load_config(args.config, shortcut_overrides(args, *run_flags(args))),
        log_level=lambda c: log_level(args, c.logging.level),
        held=getattr(args, "held_signals", None),
    )
