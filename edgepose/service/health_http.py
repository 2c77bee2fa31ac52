"""``/healthz`` and ``/metrics`` over HTTP, for a load balancer, a monitoring agent or ``curl``.

Off by default and bound to 127.0.0.1 unless configured (``service.health``). Both pages are built
from the same figures as the MQTT stats topic: :meth:`RunStats.snapshot`, :meth:`Health.status` and
each sink's ``dropped`` count and ``counters()`` (where a sink has one), so they cannot disagree.

For every camera (``Probe.cameras``, from :meth:`RunStats.camera_snapshots`), its own
figures are exported beside the unlabelled totals, one sample per camera with a ``camera`` label,
in families of their own: the total's name with ``camera_`` after the prefix, e.g.
``edgepose_frames_processed_total`` (every camera) and
``edgepose_camera_frames_processed_total{camera="front"}``, or
``edgepose_camera_inference_milliseconds{camera="front",quantile="0.5"}``. Separate names because a
family must not mix labelled and unlabelled samples (a ``sum()`` over it would count every frame
twice). The daemon's own figures (:data:`DAEMON_KEYS`: uptime, accelerator fallbacks) are not per
camera. With one camera its family holds the same numbers as the totals, under the same names as
with several, so a dashboard needs no second query when a camera is added.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgepose.service.http_guard import GuardedHandler, GuardedHTTPServer, Limits, shown
from edgepose.sinks.base import Sink

log = logging.getLogger(__name__)

PREFIX = "edgepose_"
CONTENT_TYPE_METRICS = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus text exposition format

# snapshot key -> (metric name, type, help). Keys not listed here (added later by other parts) are
# exported as gauges named after the key, so a new figure shows up without touching this table.
SNAPSHOT_METRICS: dict[str, tuple[str, str, str]] = {
    "uptime_s": ("uptime_seconds", "gauge", "seconds since the pipeline started"),
    "captured": ("frames_captured_total", "counter", "frames the source produced"),
    "processed": ("frames_processed_total", "counter", "frames that went through the model"),
    "skipped": ("frames_skipped_total", "counter", "frames replaced by a newer one before inference"),
    "failed": ("frames_failed_total", "counter", "frames or reads that failed and were skipped"),
    "published": ("documents_published_total", "counter", "pose documents handed to the sinks"),
    "implausible": ("poses_implausible_total", "counter", "poses the plausibility gate dropped"),
    "analysis_failures": (
        "analysis_failures_total",
        "counter",
        "frames on which an analyzer (zones, behaviours) failed and was left out",
    ),
    "people": ("people", "gauge", "poses in the last processed frame"),
    "camera_fps": ("camera_fps", "gauge", "frames captured per second since the start"),
    "processed_fps": ("processed_fps", "gauge", "frames processed per second since the start"),
}
PERCENTILE_KEY = re.compile(r"(?P<stage>[a-z_]+)_ms_p(?P<q>\d+)")
CAMERA_PREFIX = "camera_"  # a per-camera family: edgepose_camera_<the total's name>{camera="<name>"}
# Snapshot keys of the daemon, not of a camera: left out of the per-camera families.
DAEMON_KEYS = frozenset({"uptime_s", "accelerator_fallbacks"})


@dataclass(frozen=True)
class Probe:
    """What the service says about itself at one moment."""

    state: str  # starting | running | stopping
    healthy: bool  # running, making progress, and every component healthy
    reasons: tuple[str, ...]  # why not healthy, one "component: why" per line
    snapshot: Mapping[str, float | int | None]
    sinks: tuple[Sink, ...] = ()
    # camera name -> that camera's snapshot (the keys of ``snapshot``); empty with one camera
    cameras: Mapping[str, Mapping[str, float | int | None]] = field(default_factory=dict)


def healthz_body(probe: Probe) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of ``/healthz``: 200 only when running and healthy."""
    ok = probe.state == "running" and probe.healthy
    status = "ok" if ok else (probe.state if probe.state != "running" else "unhealthy")
    return (200 if ok else 503), {"status": status, "reasons": list(probe.reasons)}


class _Families:
    """Samples grouped by metric family, in first-seen order (the text format wants each family contiguous)."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[tuple[dict[str, str], float]]]] = {}

    def add(self, name: str, kind: str, help_text: str, value: float | None, labels: Mapping[str, str] | None = None):
        if value is None:
            return  # a percentile of an empty window: no sample rather than a made-up number
        family = self._families.setdefault(PREFIX + name, (kind, help_text, []))
        family[2].append((dict(labels or {}), float(value)))

    def render(self) -> str:
        out: list[str] = []
        for name, (kind, help_text, samples) in self._families.items():
            out.append(f"# HELP {name} {_escape_help(help_text)}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
                out.append(f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}")
        return "\n".join(out) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _metric_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def render_metrics(probe: Probe) -> str:
    """``/metrics`` in the Prometheus text format (version 0.0.4)."""
    fam = _Families()
    fam.add("up", "gauge", "1 while the process serves metrics", 1)
    fam.add("ready", "gauge", "1 once the model is loaded and the first frame processed", probe.state == "running")
    fam.add("healthy", "gauge", "1 when /healthz answers 200", probe.state == "running" and probe.healthy)
    for reason in probe.reasons:
        component = reason.split(":", 1)[0]
        fam.add("component_unhealthy", "gauge", "1 for each component reporting a problem", 1, {"component": component})
    _add_snapshot(fam, probe.snapshot)
    for camera, snapshot in probe.cameras.items():
        figures = {k: v for k, v in snapshot.items() if k not in DAEMON_KEYS}
        _add_snapshot(fam, figures, CAMERA_PREFIX, {"camera": str(camera)}, ", per camera")
    for sink in probe.sinks:
        fam.add("sink_dropped_total", "counter", "documents a sink had to drop", sink.dropped, {"sink": str(sink.name)})
    for sink in probe.sinks:
        for key, value in _numeric_items(sink.counters()):
            fam.add(f"sink_{_metric_name(key)}", "untyped", f"sink counter {key}", value, {"sink": str(sink.name)})
    return fam.render()


def _add_snapshot(
    fam: _Families, snapshot: Mapping[str, Any], prefix: str = "", labels: Mapping[str, str] | None = None, of: str = ""
) -> None:
    """The snapshot's numbers as samples: the totals (no prefix), or one camera's (``camera_``, its label)."""
    labels = dict(labels or {})
    for key, value in snapshot.items():
        if isinstance(value, bool) or not isinstance(value, int | float | type(None)):
            continue
        match = PERCENTILE_KEY.fullmatch(key)
        if key in SNAPSHOT_METRICS:
            name, kind, help_text = SNAPSHOT_METRICS[key]
            fam.add(prefix + name, kind, help_text + of, value, labels)
        elif match:
            stage, q = match["stage"], int(match["q"]) / 100
            fam.add(
                f"{prefix}{stage}_milliseconds",
                "gauge",
                f"{stage} time over the recent window, ms{of}",
                value,
                {**labels, "quantile": f"{q:g}"},
            )
        else:
            fam.add(prefix + _metric_name(key), "gauge", f"stats figure {key}{of}", value, labels)


def _numeric_items(data: Any) -> Iterable[tuple[str, float]]:
    if not isinstance(data, Mapping):
        return ()
    return [(str(k), float(v)) for k, v in data.items() if isinstance(v, int | float)]  # bools as 1/0


class HealthServer:
    """A small threaded HTTP server answering ``/healthz`` and ``/metrics`` from a probe function.

    Guarded against its clients (:mod:`edgepose.service.http_guard`): at most ``limits.max_clients``
    connections, each with ``limits.read_timeout`` seconds for its request.
    """

    def __init__(self, host: str, port: int, probe: Callable[[], Probe], limits: Limits | None = None) -> None:
        self.probe = probe
        handler = _handler_for(probe)
        self._server = GuardedHTTPServer(host, port, handler, limits or Limits(), "service.health")
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="edgepose-health", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def server(self) -> GuardedHTTPServer:
        return self._server

    def start(self) -> None:
        self._thread.start()
        host, port = self.address
        log.info("health endpoint on http://%s/healthz and /metrics", shown(host, port))

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler_for(probe: Callable[[], Probe]) -> type[GuardedHandler]:
    class Handler(GuardedHandler):
        server_version = "edgepose"

        def do_GET(self) -> None:  # noqa: N802 (http.server calls do_<METHOD>)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                code, body = healthz_body(probe())
                self._reply(code, "application/json", json.dumps(body) + "\n")
            elif path == "/metrics":
                self._reply(200, CONTENT_TYPE_METRICS, render_metrics(probe()))
            else:
                self._reply(404, "text/plain; charset=utf-8", "not found: try /healthz or /metrics\n")

        def _reply(self, code: int, content_type: str, text: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health http: " + format, *args)

    return Handler
