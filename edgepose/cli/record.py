"""``edgepose record``: subscribe to a fleet and write its documents to JSON-lines files."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from edgepose.cli import add_config, add_verbosity, log_level
from edgepose.errors import ConfigError, InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="write a fleet's documents to one JSON-lines file per device, camera and day")
    add_config(p)
    add_verbosity(p)
    add_broker(p)
    p.add_argument("--dir", required=True, type=Path, help="where the files go: DIR/<device>/<camera>/<day>.jsonl")
    p.add_argument("--devices", nargs="+", default=["*"], metavar="NAME", help="device names or patterns (pi-*)")
    p.add_argument("--cameras", nargs="+", default=["*"], metavar="NAME", help="camera names or patterns")
    p.add_argument(
        "--kinds",
        nargs="+",
        default=["poses", "events", "stats"],
        choices=["poses", "events", "stats"],
        help="documents to record (default: all three)",
    )
    p.add_argument(
        "--max-bytes",
        type=int,
        default=0,
        metavar="N",
        help="start <day>.1.jsonl, <day>.2.jsonl... past N bytes (default 0: one file a day)",
    )
    p.add_argument(
        "--fsync",
        choices=["always", "interval", "never"],
        default="interval",
        help="flush to the disk after each line, every --fsync-interval s (default), or never",
    )
    p.add_argument("--fsync-interval", type=float, default=5.0, metavar="S", help="seconds (default 5)")
    p.add_argument(
        "--session",
        metavar="CLIENT_ID",
        help="keep a broker session under this client id: QoS 1 messages published while the "
        "recorder is away are delivered when it is back",
    )
    p.add_argument("--share", metavar="GROUP", help="join the shared subscription $share/GROUP/...")
    p.add_argument(
        "--validate",
        action="store_true",
        help="check each document against its schema (milliseconds per pose document: not for a "
        "whole fleet on one core); without it, JSON and the fields used are checked",
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--count", type=int, metavar="N", help="stop after N documents written (and what arrived by then)")
    p.add_argument("--summary-json", type=Path, metavar="FILE", help="also write the summary as JSON to FILE")
    p.set_defaults(func=run)


def add_broker(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="broker host (mqtt.host)")
    p.add_argument("--port", type=int, help="broker port (mqtt.port)")
    p.add_argument("--prefix", help="topic prefix with {device} (default: mqtt.topic_prefix, else edgepose/{device})")


def broker_overrides(args: argparse.Namespace) -> list[str]:
    out = []
    if args.host is not None:
        out.append("mqtt.host='" + args.host.replace("'", "''") + "'")
    if args.port is not None:
        out.append(f"mqtt.port={args.port}")
    return [*out, *args.overrides]


BATCH = 500  # messages written between two acknowledgements at most, when they keep arriving


def run(args: argparse.Namespace) -> int:
    from edgepose.client import Event, FleetClient, Gap, Invalid, Poses, Stats, TopicLayout
    from edgepose.client.recording import Recorder, RecordOptions
    from edgepose.config import load_config
    from edgepose.logs import setup_logging
    from edgepose.terminal import printable

    config = load_config(args.config, broker_overrides(args))
    setup_logging(log_level(args, "warning"), config.logging.format)
    if args.duration is not None and not 0 < args.duration < math.inf:
        raise ConfigError("--duration must be positive")
    if args.count is not None and args.count < 1:
        raise ConfigError("--count must be at least 1")
    if not 0 < args.fsync_interval < math.inf:
        raise ConfigError("--fsync-interval must be positive")
    options = RecordOptions(args.dir, args.max_bytes, args.fsync, args.fsync_interval)
    check_outputs(args.dir, args.summary_json)
    prefix = args.prefix or (
        config.mqtt.topic_prefix if "{device}" in config.mqtt.topic_prefix else "edgepose/{device}"
    )
    fleet = FleetClient(
        config.mqtt,
        devices=args.devices,
        cameras=args.cameras,
        kinds=args.kinds,
        layout=TopicLayout(prefix.rstrip("/")),
        client_id=args.session or "",
        clean=not args.session,
        share=args.share or "",
        validate=args.validate,
        manual_ack=True,
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _sig, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    recorder = Recorder(options, batched=True)
    refused: Counter[str] = Counter()
    start = time.monotonic()

    def take(item: object) -> None:
        if isinstance(item, Poses | Event | Stats):
            recorder.write(item)
        elif isinstance(item, Gap):
            tell(f"{item.device}/{item.camera}: {item.missing} frame(s) missing after frame {item.after}")
        elif isinstance(item, Invalid):
            refused[item.cause] += 1
            if refused[item.cause] == 1:  # each kind of refusal named once; the summary counts them all
                tell(
                    f"skipped a message on {printable(item.topic)}: {printable(item.reason)} "
                    f"(further '{item.cause}' refusals are counted, not shown)"
                )

    def commit() -> None:
        """What was taken is in its file (on the disk with --fsync always): now the broker may forget it."""
        recorder.commit()
        fleet.acknowledge()

    try:
        fleet.connect()
        tell(
            f"subscribed to {' '.join(fleet.filters())} at {config.mqtt.host}:{config.mqtt.port}, writing to {args.dir}"
        )
        while not stop.is_set():
            if args.duration is not None and time.monotonic() - start >= args.duration:
                break
            for item in fleet.documents(timeout=0.2):
                take(item)
                if args.count is not None and recorder.written >= args.count:
                    stop.set()
                if stop.is_set() or (args.duration is not None and time.monotonic() - start >= args.duration):
                    break
                if fleet.caught_up or fleet.unacknowledged >= BATCH:
                    commit()
            commit()
        # What arrived by now is written and acknowledged before leaving; with a kept session, what
        # arrives after is left to the broker, which delivers it again when the recorder is back.
        for item in fleet.documents(timeout=0):
            take(item)
        commit()
        fleet.close()
        if not args.session:
            for item in fleet.documents():
                take(item)
    finally:
        fleet.close()
        recorder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - start
    summary = summarize(fleet, recorder, elapsed, refused)
    sys.stdout.write("\n".join(summary_lines(summary)) + "\n")
    if args.summary_json:
        try:
            args.summary_json.write_text(json.dumps(summary, indent=1) + "\n")
        except OSError as exc:
            raise InputError(f"cannot write --summary-json {args.summary_json}: {exc.strerror or exc}") from None
    return 0


def check_outputs(directory: Path, summary: Path | None) -> None:
    """Refuse, before connecting, a --dir that cannot take files and a --summary-json that cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except FileExistsError:
        raise InputError(f"--dir {directory} is not a directory") from None
    except OSError as exc:
        raise InputError(f"cannot write files in --dir {directory}: {exc.strerror or exc}") from None
    if summary is None:
        return
    existed = summary.exists()
    try:
        with summary.open("a"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write --summary-json {summary}: {exc.strerror or exc}") from None
    if not existed:
        summary.unlink(missing_ok=True)


def tell(news: str) -> None:
    print(f"edgepose record: {news}", file=sys.stderr, flush=True)


def summarize(fleet, recorder, elapsed: float, refused: Counter[str] | None = None) -> dict:  # type: ignore[no-untyped-def]
    """The run's figures: written, invalid (by cause), not written (by cause), and per stream."""
    return {
        "seconds": round(elapsed, 3),
        "received": fleet.received,
        "written": recorder.written,
        "invalid": fleet.invalid,
        "invalid_causes": dict(sorted((refused or Counter()).items())),
        "not_written": dict(recorder.failures.dropped),
        "files": len(recorder.files),
        "streams": [
            {
                "device": s.device,
                "camera": s.camera,
                "received": s.received,
                "missing": s.missing,
                "gaps": s.gaps,
                "duplicates": s.duplicates,
                "restarts": s.restarts,
                "first_frame": s.first_frame,
                "last_frame": s.last_frame,
                "rate": round(s.rate, 3),
            }
            for s in fleet.sequence.summaries()
        ],
    }


def summary_lines(summary: dict) -> list[str]:
    rate = summary["written"] / summary["seconds"] if summary["seconds"] > 0 else 0.0
    lost = sum(summary["not_written"].values())
    causes = ", ".join(f"{k}: {v}" for k, v in sorted(summary["not_written"].items()))
    head = f"recorded {summary['written']} document(s) in {summary['files']} file(s) in {summary['seconds']:.1f} s"
    tail = f" ({causes})" if lost else ""
    why = ", ".join(f"{k}: {v}" for k, v in summary.get("invalid_causes", {}).items())
    invalid = f"{summary['invalid']} invalid" + (f" ({why})" if why else "")
    lines = [f"{head} ({rate:.1f}/s); {invalid}; {lost} not written{tail}"]
    for s in summary["streams"]:
        frames = f"frames {s['first_frame']}..{s['last_frame']}"
        lines.append(
            f"  {s['device']}/{s['camera']}: {s['received']} pose document(s), {frames}, {s['missing']} missing in "
            f"{s['gaps']} gap(s), {s['duplicates']} duplicate(s), {s['restarts']} restart(s), {s['rate']:.1f}/s"
        )
    return lines
