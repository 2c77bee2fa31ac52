"""The watch view's model: messages in, a new :class:`WatchState` out, and the state as text.

Pure functions of their inputs and a ``now`` on the monotonic clock (seconds), so tests feed
messages and time directly. A malformed message is counted (``bad_messages``), never fatal:
``watch`` must work against whatever a broker holds. What is kept of a message is checked when it
arrives (a zone's ``track_ids`` a list, a frame a finite integer), so drawing never meets a bad
value; and every line drawn goes through :func:`edgepose.terminal.printable`, so no control
character from a document (an ESC sequence in a model name) reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from edgepose import strict_json
from edgepose.terminal import printable

EVENTS_SHOWN = 5  # the most recent analysis events kept for the view
RATE_WINDOW_S = 3.0  # pose messages per second are counted over this many recent seconds
STALE_S = 5.0  # no pose message for this long: say so instead of showing old people as current


@dataclass(frozen=True)
class Person:
    """One row of the people table, from a pose document."""

    id: int | None
    score: float
    box: tuple[float, float, float, float]
    visible: int  # keypoints scoring at least the view's min score


@dataclass(frozen=True)
class CameraView:
    """The last pose document of one camera, reduced to what the view shows."""

    camera: str
    frame: int
    size: tuple[int, int]
    model: str
    accelerator: str
    inference_ms: float
    people: tuple[Person, ...]
    received: float  # monotonic seconds
    arrivals: tuple[float, ...] = ()  # monotonic arrival times within RATE_WINDOW_S


@dataclass(frozen=True)
class WatchState:
    """Everything the view knows about one device prefix."""

    prefix: str
    broker: str  # host:port, for the header
    connected: bool = False
    connection_note: str = "connecting"  # why not connected, or the broker's answer
    connects: int = 0  # successful connections of this watcher; reconnects = connects - 1
    available: str | None = None  # the device's retained availability: online, offline, None = unknown
    meta: Mapping[str, Any] | None = None
    stats: Mapping[str, Any] | None = None
    stats_received: float | None = None
    count: str | None = None
    cameras: Mapping[str, CameraView] = field(default_factory=dict)
    zones: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # "<camera>/<zone>" -> its state
    events: tuple[Mapping[str, Any], ...] = ()  # the latest EVENTS_SHOWN events, oldest first
    messages: int = 0
    bad_messages: int = 0
    last_bad: str = ""
    min_keypoint_score: float = 0.2


def on_connection(state: WatchState, connected: bool, note: str) -> WatchState:
    """The watcher's own connection changed (connected, or lost/refused with ``note`` saying why)."""
    return replace(state, connected=connected, connection_note=note, connects=state.connects + int(connected))


def on_message(state: WatchState, topic: str, payload: bytes, now: float) -> WatchState:
    """Fold one message under the prefix into the state."""
    state = replace(state, messages=state.messages + 1)
    sub = topic[len(state.prefix) + 1 :] if topic.startswith(state.prefix + "/") else topic
    try:
        if sub == "available":
            return replace(state, available=payload.decode("utf-8").strip() or None)
        if sub == "count":
            return replace(state, count=payload.decode("utf-8").strip() or None)
        if sub == "meta":
            return replace(state, meta=_json_object(payload) if payload else None)
        if sub == "stats":
            return replace(state, stats=_json_object(payload), stats_received=now)
        if sub.endswith("/poses"):
            return _poses(state, _json_object(payload), now)
        if sub.endswith("/events"):
            event = _json_object(payload)
            return replace(state, events=(*state.events, event)[-EVENTS_SHOWN:])
        camera, _, zone = sub.partition("/zones/")
        if zone and "/" not in camera:
            key = f"{camera}/{zone}"
            zones = {k: v for k, v in state.zones.items() if k != key}
            if payload:  # an empty retained message: the zone was removed
                zones[key] = _zone(_json_object(payload))
            return replace(state, zones=zones)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, UnicodeDecodeError) as exc:
        # A document of the wrong shape anywhere (a keypoint of two values, a string for a list) is one
        # unreadable message, counted and shown, never the end of the view.
        return replace(state, bad_messages=state.bad_messages + 1, last_bad=f"{topic}: {exc}"[:120])
    return state  # another topic under the prefix (e.g. a newer version's): ignored but counted


def _json_object(payload: bytes) -> dict[str, Any]:
    value = strict_json.loads(payload)  # NaN, 1e400 and 100,000 nested [ are refused (ValueError)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _zone(zone: dict[str, Any]) -> dict[str, Any]:
    """A zone state as the view uses it: ``track_ids`` a list of integers, ``count`` an integer."""
    ids = zone.get("track_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValueError("track_ids is not a list of track ids")
    count = zone.get("count", "?")
    if count != "?" and (isinstance(count, bool) or not isinstance(count, int)):
        raise ValueError("count is not an integer")
    return zone


def _poses(state: WatchState, doc: Mapping[str, Any], now: float) -> WatchState:
    people = tuple(
        Person(
            p.get("id"),
            float(p["score"]),
            tuple(float(v) for v in p["box"]),  # type: ignore[arg-type]
            sum(1 for kp in p["keypoints"] if float(kp[2]) >= state.min_keypoint_score),
        )
        for p in doc["poses"]
    )
    camera = str(doc["camera"])
    previous = state.cameras.get(camera)
    kept = (t for t in (previous.arrivals if previous else ()) if now - t <= RATE_WINDOW_S)
    arrivals = (*kept, now)
    view = CameraView(
        camera=camera,
        frame=int(doc["frame"]),
        size=(int(doc["width"]), int(doc["height"])),
        model=str(doc.get("model", "")),
        accelerator=str(doc.get("accelerator", "")),
        inference_ms=float(doc["timing_ms"]["inference"]),
        people=people,
        received=now,
        arrivals=arrivals,
    )
    return replace(state, cameras={**state.cameras, camera: view})


def message_rate(view: CameraView, now: float) -> float:
    """Pose messages per second received over the last RATE_WINDOW_S."""
    recent = [t for t in view.arrivals if now - t <= RATE_WINDOW_S]
    if len(recent) < 2:
        return 0.0
    return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)


def _num(stats: Mapping[str, Any], key: str, unit: str = "", digits: int = 1) -> str:
    """A figure of the stats message; sink counters sit in a nested object (``"mqtt": {"dropped": ..}``)."""
    value = stats.get(key)
    if value is None:
        value = next((v[key] for v in stats.values() if isinstance(v, Mapping) and key in v), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.{digits}f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def render(state: WatchState, now: float) -> str:
    """The view as plain text lines (no colours, so it reads the same in a log or a pipe)."""
    lines = [f"edgepose watch  {state.prefix}  on {state.broker}"]
    link = "connected" if state.connected else f"NOT CONNECTED ({state.connection_note}; retrying)"
    reconnects = max(state.connects - 1, 0)
    lines.append(f"broker: {link}; watcher reconnects {reconnects}")
    availability = {"online": "ONLINE", "offline": "OFFLINE"}.get(state.available or "", state.available)
    lines.append(f"device: {availability or 'unknown (no availability message yet)'}")
    if state.meta:
        m = state.meta
        lines.append(
            f"model: {m.get('model', '?')} on {m.get('accelerator', '?')}, {m.get('threads', '?')} threads, "
            f"version {m.get('version', '?')}"
        )
    if state.stats is not None:
        s = state.stats
        age = now - state.stats_received if state.stats_received is not None else 0.0
        lines.append(
            f"fps: camera {_num(s, 'camera_fps')}, processed {_num(s, 'processed_fps')}   "
            f"inference p50 {_num(s, 'inference_ms_p50', ' ms')} p95 {_num(s, 'inference_ms_p95', ' ms')}   "
            f"latency p50 {_num(s, 'latency_ms_p50', ' ms')}"
        )
        lines.append(
            f"drops: dropped {_num(s, 'dropped')}, skipped {_num(s, 'skipped')}, failed {_num(s, 'failed')}   "
            f"reconnects {_num(s, 'reconnects')}, source retries {_num(s, 'source_retries')}   "
            f"uptime {_num(s, 'uptime_s', ' s', 0)}   (stats {age:.0f} s ago)"
        )
    else:
        lines.append("fps: - (no stats message yet)")
    if state.count is not None:
        lines.append(f"people count: {state.count}")
    if not state.cameras:
        lines.append("poses: none received yet")
    for name in sorted(state.cameras):
        lines.extend(_camera_lines(state.cameras[name], now))
    lines.extend(_analysis_lines(state))
    lines.append(
        f"messages: {state.messages}, unreadable {state.bad_messages}"
        + (f" (last: {state.last_bad})" if state.last_bad else "")
    )
    return "\n".join(printable(line) for line in lines)


def zone_line(key: str, zone: Mapping[str, Any]) -> str:
    """``[cam0] zone doorway: OCCUPIED 2 (ids 3, 7)`` from a retained zone state."""
    camera, _, name = key.partition("/")
    ids = zone.get("track_ids") or []
    who = f" (ids {', '.join(map(str, ids))})" if ids else ""
    what = f"OCCUPIED {zone.get('count', '?')}{who}" if zone.get("occupied") else "empty"
    return f"[{camera}] zone {name}: {what}"


def event_line(event: Mapping[str, Any]) -> str:
    """``[cam0] frame 1042 zone_enter doorway #3 (count 1)``: one event, briefly."""
    who = f" #{event['track_id']}" if event.get("track_id") is not None else ""
    count = f" (count {event['count']})" if "count" in event else ""
    return (
        f"[{event.get('camera', '?')}] frame {event.get('frame', '?')} {event.get('kind', '?')} "
        f"{event.get('zone', '')}{who}{count}"
    )


def _analysis_lines(state: WatchState) -> list[str]:
    lines = [zone_line(key, zone) for key, zone in sorted(state.zones.items())]
    if state.events:
        lines.append("events (latest last):")
        lines.extend(f"  {event_line(e)}" for e in state.events)
    return lines


def _camera_lines(view: CameraView, now: float) -> list[str]:
    age = now - view.received
    stale = f"   NO POSES FOR {age:.0f} s" if age > STALE_S else ""
    out = [
        f"[{view.camera}] frame {view.frame}  {view.size[0]}x{view.size[1]}  {message_rate(view, now):.1f} msg/s  "
        f"inference {view.inference_ms:.1f} ms  people {len(view.people)}{stale}"
    ]
    if view.people:
        out.append(f"  {'id':>5} {'score':>6} {'keypoints':>9}  box")
        for p in view.people:
            pid = "-" if p.id is None else str(p.id)
            box = " ".join(f"{v:.0f}" for v in p.box)
            out.append(f"  {pid:>5} {p.score:>6.2f} {p.visible:>6}/17  [{box}]")
    return out


def view_facts(state: WatchState, now: float) -> dict[str, str]:
    """What the view says that changes seldom, one line per fact, keyed by what it is about.

    For a stdout that is not a terminal (a log, a pipe): a line is printed when its fact changes,
    so rates, frame numbers and ages, which change on every refresh, are left out.
    """
    link = "connected" if state.connected else f"NOT CONNECTED ({state.connection_note}; retrying)"
    facts = {"broker": f"broker: {link}"}
    if state.available is not None:
        facts["device"] = "device: " + {"online": "ONLINE", "offline": "OFFLINE"}.get(state.available, state.available)
    if state.meta:
        m = state.meta
        facts["model"] = (
            f"model: {m.get('model', '?')} on {m.get('accelerator', '?')}, {m.get('threads', '?')} "
            f"threads, version {m.get('version', '?')}"
        )
    if state.stats is not None:
        s = state.stats
        facts["drops"] = (
            f"drops: dropped {_num(s, 'dropped')}, failed {_num(s, 'failed')}, reconnects "
            f"{_num(s, 'reconnects')}, source retries {_num(s, 'source_retries')}"
        )
    if state.count is not None:
        facts["count"] = f"people count: {state.count}"
    for name in sorted(state.cameras):
        view = state.cameras[name]
        stale = now - view.received > STALE_S
        facts[f"camera {name}"] = (
            f"[{name}] no poses for more than {STALE_S:g} s" if stale else f"[{name}] people {len(view.people)}"
        )
    for key, zone in sorted(state.zones.items()):
        facts[f"zone {key}"] = zone_line(key, zone)
    if state.events:  # each new event is a new fact: printed once, in order
        last = state.events[-1]
        facts["event"] = event_line(last) + f" at {last.get('ts', '?')}"
    if state.bad_messages:
        facts["unreadable"] = f"unreadable messages: {state.bad_messages} (last: {state.last_bad})"
    return facts


def view_lines(state: WatchState, previous: Mapping[str, str], now: float) -> tuple[dict[str, str], tuple[str, ...]]:
    """The facts now, and the lines to print: each fact that is new or differs from ``previous``."""
    facts = {key: printable(line) for key, line in view_facts(state, now).items()}
    return facts, tuple(line for key, line in facts.items() if previous.get(key) != line)
