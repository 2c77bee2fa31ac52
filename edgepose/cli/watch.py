"""``edgepose watch``: a live view of what a device publishes, or its pose documents as JSON lines."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from edgepose.cli import add_config, add_verbosity, log_level
from edgepose.config import load_config
from edgepose.errors import ConfigError
from edgepose.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="live view of a device's topics on an MQTT broker")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--host", help="broker host (mqtt.host)")
    p.add_argument("--port", type=int, help="broker port (mqtt.port)")
    p.add_argument("--device", metavar="ID", help="the device to watch (device_id)")
    p.add_argument("--prefix", help="topic prefix (mqtt.topic_prefix); default edgepose/<device>")
    p.add_argument("--json", action="store_true", help="print each pose document as one JSON line")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between refreshes (default 1)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--count", type=int, metavar="N", help="stop after N pose documents")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.tools.watch.client import WatchOptions, watch

    overrides = []
    for flag, key in (
        ("host", "mqtt.host"),
        ("port", "mqtt.port"),
        ("device", "device_id"),
        ("prefix", "mqtt.topic_prefix"),
    ):
        value = getattr(args, flag)
        if value is not None:
            text = str(value).replace("'", "''")
            overrides.append(f"{key}='{text}'" if flag != "port" else f"{key}={value}")
    config = load_config(args.config, [*overrides, *args.overrides])
    # The view owns stdout; logs go to stderr at warning unless -v.
    setup_logging(log_level(args, "warning"), config.logging.format)
    if args.interval <= 0 or (args.duration is not None and args.duration <= 0):
        raise ConfigError("--interval and --duration must be positive")
    if args.count is not None and args.count < 1:
        raise ConfigError("--count must be at least 1")
    options = WatchOptions(
        json=args.json,
        interval=args.interval,
        duration=args.duration,
        max_documents=args.count,
        in_place=sys.stdout.isatty(),
    )
    # Handlers of our own: a shell starts a background job (`edgepose watch &`) with SIGINT ignored,
    # and Python then never raises KeyboardInterrupt. The handlers only record; the loop stops.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _sig, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return watch(config, sys.stdout, options, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
