"""Subscribing to a device's topics and driving the watch view (or printing raw documents).

paho's network thread only puts events on a queue; the calling thread owns the state and the
terminal, so no state is shared between threads. Connection settings (host, port, protocol,
auth, TLS) are the config's ``mqtt`` section, built by :mod:`edgepose.mqtt.connect`, so any
broker the daemon could use can be watched, and so can any other broker holding the same topics.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from edgepose import strict_json
from edgepose.config.sections import Config
from edgepose.errors import ConfigError, UnavailableError
from edgepose.mqtt.connect import AUTH_REFUSALS, build_client, describe_connect_error, describe_refusal
from edgepose.mqtt.topics import Topics
from edgepose.terminal import printable
from edgepose.tools.watch.state import WatchState, on_connection, on_message, render, view_lines

log = logging.getLogger(__name__)

CLEAR = "\x1b[H"  # cursor home; each line then ends with "erase to end of line", the view with "erase below"


@dataclass(frozen=True)
class WatchOptions:
    json: bool = False  # print each pose document as one JSON line instead of the view
    interval: float = 1.0  # seconds between view refreshes
    duration: float | None = None  # stop after this many seconds
    max_documents: int | None = None  # stop after this many pose documents
    in_place: bool = True  # redraw over the previous view (a terminal); else one line per change


def watch(
    config: Config,
    out: TextIO,
    options: WatchOptions,
    clock: Callable[[], float] = time.monotonic,
    stop: threading.Event | None = None,
    err: TextIO | None = None,
) -> int:
    """Run until ``duration``, ``max_documents`` or ``stop`` is set (the CLI sets it on SIGINT and
    SIGTERM). Returns the exit code. With ``json``, stdout holds documents only, so how the
    connection goes is told on ``err`` (stderr), once per change."""
    stop = stop or threading.Event()
    err = err or sys.stderr
    topics = Topics.from_config(config)
    events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    client = build_client(config.mqtt, f"edgepose-watch-{uuid.uuid4().hex[:12]}")
    subscription = f"{topics.prefix}/#"

    def connected(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            events.put(("refused", reason))
            return
        client.subscribe(subscription, qos=1)  # again on every connect: a clean session forgets it
        events.put(("connected",))

    client.on_connect = connected
    client.on_disconnect = lambda c, u, flags, reason, p: events.put(("lost", str(reason)))
    host, port = config.mqtt.host, config.mqtt.port
    # paho calls this inside its `except OSError` block: the exception says why (refused, no such host...)
    client.on_connect_fail = lambda c, u: events.put(("failed", describe_connect_error(sys.exc_info()[1], host, port)))
    client.on_message = lambda c, u, msg: events.put(("message", msg.topic, msg.payload))

    state = WatchState(
        topics.prefix, f"{config.mqtt.host}:{config.mqtt.port}", min_keypoint_score=config.decoder.min_keypoint_score
    )
    start = clock()
    next_draw = start
    documents = 0
    refused: Counter[str] = Counter()  # pose messages not printed in json mode, by cause
    facts: dict[str, str] = {}
    told = ""  # the connection news last written to err (json mode)
    if options.json:
        told = tell(err, f"connecting to the broker at {state.broker}")
    elif not options.in_place:
        write_lines(out, [f"edgepose watch  {state.prefix}  on {state.broker}"])
    client.connect_async(host, port, keepalive=config.mqtt.keepalive)
    client.loop_start()
    try:
        while not stop.is_set():
            now = clock()
            if options.duration is not None and now - start >= options.duration:
                break
            if not options.json and now >= next_draw:
                if options.in_place:
                    draw(out, render(state, now))
                else:
                    facts, lines = view_lines(state, facts, now)
                    write_lines(out, lines)
                next_draw = now + options.interval
            try:
                event = events.get(timeout=max(0.01, min(next_draw - now, 0.2)))
            except queue.Empty:
                continue
            state = apply_event(state, event, config, clock())
            if options.json and connection_news(state) != told:
                told = tell(err, connection_news(state))
            if event[0] == "message" and event[1].endswith("/poses"):
                documents += 1
                cause = print_document(out, event[2]) if options.json else None
                if cause is not None:
                    refused[cause] += 1
                    if refused[cause] == 1:  # each cause named once; the count is told at the end
                        tell(err, f"skipped a pose message on {event[1]}: {cause} (further ones are counted)")
                if options.max_documents is not None and documents >= options.max_documents:
                    break
    finally:
        client.disconnect()
        client.loop_stop()
    if refused:
        tell(err, "skipped pose messages: " + ", ".join(f"{k}: {v}" for k, v in sorted(refused.items())))
    if not options.json:
        if options.in_place:
            draw(out, render(state, clock()))
        else:
            write_lines(out, view_lines(state, facts, clock())[1])
    if state.connects == 0:
        raise UnavailableError(
            f"could not connect to the broker at {state.broker}: {state.connection_note}",
            "check mqtt.host and mqtt.port (--host, --port), and that the broker is running",
        )
    return 0


def apply_event(state: WatchState, event: tuple[Any, ...], config: Config, now: float) -> WatchState:
    """Fold one network event into the state; a refusal that retrying cannot fix raises."""
    kind = event[0]
    if kind == "message":
        return on_message(state, event[1], event[2], now)
    if kind == "connected":
        log.info("connected to %s, watching %s/#", state.broker, state.prefix)
        return on_connection(state, True, "connected")
    if kind == "refused":
        reason = event[1]
        if reason.value in AUTH_REFUSALS:
            raise ConfigError(f"the broker at {state.broker} refused the connection: {describe_refusal(reason)}")
        return on_connection(state, False, f"refused: {describe_refusal(reason)}")
    if kind == "lost":
        log.warning("lost the broker at %s: %s", state.broker, event[1])
        return on_connection(state, False, f"lost: {event[1]}")
    return on_connection(state, False, event[1] if len(event) > 1 else f"cannot reach {state.broker}")


def connection_news(state: WatchState) -> str:
    """How the watcher's connection stands, in one line (json mode tells each change on stderr)."""
    if state.connected:
        return f"connected to the broker at {state.broker}, watching {state.prefix}/#"
    if state.connects == 0:
        return f"cannot connect: {state.connection_note}; retrying"
    return f"disconnected ({state.connection_note}); retrying"


def tell(err: TextIO, news: str) -> str:
    err.write(f"edgepose watch: {printable(news)}\n")
    err.flush()
    return news


def write_lines(out: TextIO, lines: Sequence[str]) -> None:
    if lines:
        out.write("".join(line + "\n" for line in lines))
        out.flush()


def print_document(out: TextIO, payload: bytes) -> str | None:
    """One document per line (control characters escaped, as ``json.dumps`` writes them); a payload
    that is not a JSON object is not printed: its cause is returned (``not JSON``, ``too deep``...)."""
    try:
        doc = strict_json.loads(payload)
    except strict_json.BadJSONError as exc:
        return exc.cause
    if not isinstance(doc, dict):
        return "not an object"
    out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    out.flush()
    return None


def draw(out: TextIO, text: str) -> None:
    """Redraw the view over the previous one (a terminal)."""
    out.write(CLEAR + "".join(line + "\x1b[K\n" for line in text.splitlines()) + "\x1b[J")
    out.flush()
