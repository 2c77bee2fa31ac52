"""``edgepose replay``: publish recorded documents again, at the pace they were captured."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from edgepose.cli import add_config, add_verbosity, log_level
from edgepose.cli.record import add_broker, broker_overrides
from edgepose.errors import InputError, UnavailableError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="publish recorded JSON-lines documents at their original pace")
    add_config(p)
    add_verbosity(p)
    add_broker(p)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE.jsonl", help="files edgepose record (or run) wrote")
    p.add_argument(
        "--sink",
        choices=["mqtt", "stdout"],
        default="mqtt",
        help="publish to the broker of the config (default), or print the lines",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="X times the original pace (default 1; 0: as fast as possible)",
    )
    p.add_argument("--qos", type=int, choices=[0, 1], default=1, help="QoS of the published messages (default 1)")
    p.add_argument("--no-validate", action="store_true", help="do not check documents against the schemas")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.client.replay import ReadReport, check_speed, merged, paced, topic_for
    from edgepose.config import load_config
    from edgepose.logs import setup_logging
    from edgepose.terminal import printable

    config = load_config(args.config, broker_overrides(args))
    setup_logging(log_level(args, "warning"), config.logging.format)
    check_speed(args.speed)
    for path in args.files:
        if not path.is_file():
            raise InputError(f"{path} does not exist or is not a file")
    validators = None
    if not args.no_validate:
        from edgepose.client import schema_validators

        validators = schema_validators()
    prefix = args.prefix or config.mqtt.topic_prefix or "edgepose/{device}"
    if config.site:  # {device} comes from each recorded document, {site} from the config
        prefix = prefix.replace("{site}", config.site)
    report = ReadReport()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _sig, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    documents = merged(args.files, report, validators)
    first = next(documents, None)  # a file with nothing to replay is refused before connecting
    publisher = MqttPublisher(config.mqtt, args.qos) if args.sink == "mqtt" and first is not None else None
    sent = 0
    start = time.monotonic()
    try:
        items = itertools.chain([first], documents) if first is not None else iter(())
        for item in paced(items, args.speed, sleep=lambda s: stop.wait(s)):
            if stop.is_set():
                break
            if publisher is None:
                sys.stdout.buffer.write(item.payload + b"\n")
                sys.stdout.flush()
            else:
                publisher.publish(topic_for(prefix, item), item.payload)
            sent += 1
    finally:
        unacknowledged = publisher.close() if publisher else 0
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - start
    for example in report.examples:
        print(f"edgepose replay: skipped {printable(example)}", file=sys.stderr)
    causes = ", ".join(f"{k}: {v}" for k, v in sorted(report.bad.items()))
    done = f"{sent} document(s) {'written' if args.sink == 'stdout' else 'published'} in {elapsed:.1f} s"
    bad = f"{report.total_bad} bad line(s) skipped" + (f" ({causes})" if causes else "")
    acks = f"; {unacknowledged} not acknowledged by the broker" if unacknowledged else ""
    print(f"edgepose replay: {done}; {bad}{acks}", file=sys.stderr)
    if report.documents == 0 and not stop.is_set():
        raise InputError(
            f"no document to replay in {len(args.files)} file(s) ({report.lines} line(s) read)",
            "give files edgepose record or a jsonl sink wrote",
        )
    if unacknowledged:
        raise UnavailableError(
            f"{unacknowledged} message(s) were not acknowledged by the broker", "is the broker still running?"
        )
    return 0


class MqttPublisher:
    """Publishes through a client built from the config's mqtt section; waits for the acks at close."""

    def __init__(self, mqtt, qos: int, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        from edgepose.mqtt.connect import build_client, describe_connect_error, describe_refusal, start

        self.qos = qos
        self.client = build_client(mqtt, f"edgepose-replay-{uuid.uuid4().hex[:12]}")
        self.client.max_inflight_messages_set(64)
        connected = threading.Event()
        why: list[str] = []

        def on_connect(client, userdata, flags, reason, properties) -> None:  # type: ignore[no-untyped-def]
            if reason.is_failure:
                why.append(describe_refusal(reason))
            connected.set()

        def on_connect_fail(client, userdata) -> None:  # type: ignore[no-untyped-def]
            why.append(describe_connect_error(sys.exc_info()[1], mqtt.host, mqtt.port))
            connected.set()  # refused or unresolvable: say so now rather than after the timeout

        self.client.on_connect = on_connect
        self.client.on_connect_fail = on_connect_fail
        self.pending: list = []
        start(self.client, mqtt)
        if not connected.wait(timeout) or not self.client.is_connected():
            self.client.disconnect()
            self.client.loop_stop()
            where = f"the broker at {mqtt.host}:{mqtt.port}"
            reason = f": {why[-1]}" if why else ""
            raise UnavailableError(
                f"could not connect to {where} within {timeout:g} s{reason}",
                "check mqtt.host and mqtt.port (--host, --port)",
            )

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=self.qos)
        if self.qos:
            self.pending.append(info)
            if len(self.pending) > 10_000:
                self.pending = [i for i in self.pending if not i.is_published()]

    def close(self, timeout: float = 30.0) -> int:
        """Wait (up to ``timeout`` s) for the broker's acks; return how many never came."""
        deadline = time.monotonic() + timeout
        for info in self.pending:
            left = deadline - time.monotonic()
            if left > 0 and not info.is_published():
                with contextlib.suppress(RuntimeError, ValueError):  # paho: the message was never queued
                    info.wait_for_publish(left)
        missing = sum(not i.is_published() for i in self.pending)
        self.client.disconnect()
        self.client.loop_stop()
        return missing
