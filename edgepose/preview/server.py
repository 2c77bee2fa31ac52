"""The preview HTTP server and the frame holder it serves from.

Inference must never wait for the preview: the pipeline's hook (:meth:`LatestFrame.offer`) only
checks the rate limit and swaps one reference under a lock. Drawing and JPEG encoding happen on
the preview's own thread, at most ``max_fps`` times a second, and only the newest frame and its
JPEG are kept (nothing is stored or queued beyond them).

Served paths: ``/`` the page, ``/frame.jpg`` the latest JPEG, ``/stream.mjpg`` the same as MJPEG
(``multipart/x-mixed-replace``, for VLC or an ``<img>``), ``/status.json`` stats and last document.
Clients that are not on this machine get 403 unless ``allow_remote`` is set, and so does a request
whose ``Host`` is a name not this device's (DNS rebinding: :func:`~edgepose.service.http_guard.host_allowed`).
Connections are capped and must send their request in time (:mod:`edgepose.service.http_guard`).
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from edgepose.analysis.overlay import LiveOverlay
from edgepose.config.sections import PreviewConfig
from edgepose.frame import Frame
from edgepose.opencv import require_cv2, rgb_to_bgr
from edgepose.pose import FrameResult, Pose
from edgepose.service.http_guard import GuardedHandler, GuardedHTTPServer, Limits, device_names, host_allowed, shown
from edgepose.stats import RunStats
from edgepose.viz import Style, draw_poses

log = logging.getLogger(__name__)

JPEG_QUALITY = 80
UNKNOWN_HOST = (
    b"edgepose preview: unknown Host; open it by this device's address or name, or add the name to "
    b"service.preview.hosts\n"
)
BOUNDARY = "edgeposeframe"
STATS_SHOWN = (  # (key in RunStats.snapshot(), label) in page order
    ("processed_fps", "processed fps"),
    ("camera_fps", "camera fps"),
    ("inference_ms_p50", "inference ms p50"),
    ("inference_ms_p95", "inference ms p95"),
    ("latency_ms_p50", "latency ms p50"),
    ("people", "people"),
    ("processed", "frames processed"),
    ("skipped", "frames skipped"),
    ("failed", "frames failed"),
    ("uptime_s", "uptime s"),
)


def is_local_client(address: str) -> bool:
    """True for a loopback client (127.0.0.0/8, ::1, or IPv4-mapped loopback)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class LatestFrame:
    """The newest frame offered (rate-limited) and its encoded JPEG; the encoder runs on its own thread."""

    def __init__(
        self,
        max_fps: float,
        clock: Callable[[], float] = time.monotonic,
        style: Style | None = None,
        overlay: LiveOverlay | None = None,
    ) -> None:
        self.min_interval = 1.0 / max_fps
        self.clock = clock
        self.style = style or Style()
        self.overlay = overlay  # zones and angles (service.preview.zones/angles), None: the skeletons only
        self.offered = 0  # frames the pipeline handed over
        self.skipped = 0  # of those, not taken because of max_fps (by design: the preview is a sample)
        self.encoded = 0
        self._cond = threading.Condition()
        self._pending: tuple[Frame, tuple[Pose, ...], Any, dict[str, Any]] | None = None
        self._last_taken = -float("inf")
        self._jpeg: bytes | None = None
        self._seq = 0
        self._document: Mapping[str, Any] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def offer(self, frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        """The pipeline hook: O(1), never blocks on encoding."""
        now = self.clock()
        overlay = self.overlay
        if overlay is not None:
            overlay.note(result.analysis)  # every frame: a zone may change on one the preview skips
        with self._cond:
            self.offered += 1
            self._document = document
            if now - self._last_taken < self.min_interval:
                self.skipped += 1
                return
            self._last_taken = now
            states = overlay.snapshot() if overlay is not None else {}
            self._pending = (frame, result.poses, result.analysis, states)  # replaces one not yet encoded
            self._cond.notify_all()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._encode_loop, name="preview-encoder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _encode_loop(self) -> None:
        cv2 = require_cv2()
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                frame, poses, analysis, states = self._pending  # type: ignore[misc]
                self._pending = None
            try:
                if self.overlay is not None:
                    image = self.overlay.draw(frame.image, poses, analysis, states, self.style)
                else:
                    image = draw_poses(frame.image, poses, self.style)
                ok, data = cv2.imencode(".jpg", rgb_to_bgr(image), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            except Exception:  # the preview must not take the daemon down; say so once per frame
                log.exception("preview: drawing frame %d failed", frame.index)
                continue
            if not ok:
                log.warning("preview: JPEG encoding of frame %d failed", frame.index)
                continue
            with self._cond:
                self._jpeg = data.tobytes()
                self._seq += 1
                self.encoded += 1
                self._cond.notify_all()

    def latest(self) -> tuple[int, bytes | None]:
        with self._cond:
            return self._seq, self._jpeg

    def wait_newer(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        """Block until a JPEG newer than ``seq`` exists (or timeout/stop); returns the latest."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._stopping, timeout)
            return self._seq, self._jpeg

    def document(self) -> Mapping[str, Any] | None:
        with self._cond:
            return self._document


class PreviewServer:
    """The HTTP server on its own thread, serving from a :class:`LatestFrame` and a :class:`RunStats`."""

    def __init__(
        self,
        config: PreviewConfig,
        stats: RunStats,
        clock: Callable[[], float] = time.monotonic,
        style: Style | None = None,
        overlay: LiveOverlay | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        self.frames = LatestFrame(config.max_fps, clock, style, overlay)
        self.refused = 0  # requests from non-local clients, or naming a host not this device's, answered 403
        self.names: frozenset[str] = frozenset()  # what the Host header may name (set at start)
        self._httpd: GuardedHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def hook(self) -> Callable[[Frame, FrameResult, dict[str, Any]], None]:
        return self.frames.offer

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.config.port

    @property
    def server(self) -> GuardedHTTPServer | None:
        return self._httpd

    def start(self) -> None:
        c = self.config
        httpd = GuardedHTTPServer(c.host, c.port, _Handler, Limits(c.read_timeout, c.max_clients), "service.preview")
        self.names = device_names((*c.hosts, c.host))
        httpd.preview = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.frames.start()
        self._thread = threading.Thread(target=httpd.serve_forever, name="preview-http", daemon=True)
        self._thread.start()
        remote = "any client" if self.config.allow_remote else "local clients only"
        log.info(
            "preview on http://%s/ (%s, at most %g fps)",
            shown(self.config.host, self.port),
            remote,
            self.config.max_fps,
        )
        if not is_local_client(self.config.host) and not self.config.allow_remote:
            log.warning(
                "preview listens on %s but answers local clients only (service.preview.allow_remote)", self.config.host
            )

    def stop(self) -> None:
        self.frames.stop()  # wakes MJPEG streams so their threads end
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def status(self) -> dict[str, Any]:
        f = self.frames
        return {
            "stats": self.stats.snapshot(self.clock()),
            "document": f.document(),
            "preview": {
                "max_fps": self.config.max_fps,
                "offered": f.offered,
                "skipped": f.skipped,
                "encoded": f.encoded,
                "refused_clients": self.refused,
            },
        }

    def page(self) -> str:
        status = self.status()
        template = resources.files("edgepose").joinpath("web/preview.html").read_text(encoding="utf-8")
        return (
            template.replace("{{STATS}}", stats_rows(status["stats"]))
            .replace(
                "{{DOCUMENT}}", html.escape(json.dumps(status["document"], indent=1) if status["document"] else "")
            )
            .replace("{{FRAME_INTERVAL_MS}}", str(round(1000 / self.config.max_fps)))
        )


def stats_rows(stats: Mapping[str, Any]) -> str:
    """The stats table's rows as HTML (the page renders them first; its script then refreshes them)."""
    rows = []
    for key, label in STATS_SHOWN:
        value = stats.get(key)
        text = "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
        rows.append(f'<tr><th>{html.escape(label)}</th><td id="s-{key}">{html.escape(text)}</td></tr>')
    return "\n".join(rows)


class _Handler(GuardedHandler):
    server_version = "edgepose-preview"
    protocol_version = "HTTP/1.1"

    @property
    def preview(self) -> PreviewServer:
        return self.server.preview  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("preview %s: " + format, self.client_address[0], *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server calls do_<METHOD>)
        preview = self.preview
        if not preview.config.allow_remote and not is_local_client(self.client_address[0]):
            preview.refused += 1
            self._send(
                403,
                "text/plain; charset=utf-8",
                b"edgepose preview answers local clients only (service.preview.allow_remote)\n",
            )
            return
        if not host_allowed(self.headers.get("Host"), preview.names):  # a page on another site, by DNS rebinding
            preview.refused += 1
            self._send(403, "text/plain; charset=utf-8", UNKNOWN_HOST)
            return
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, "text/html; charset=utf-8", preview.page().encode())
        elif path == "/status.json":
            self._send(200, "application/json", json.dumps(preview.status(), allow_nan=False).encode())
        elif path == "/frame.jpg":
            _, jpeg = preview.frames.latest()
            if jpeg is None:
                self._send(503, "text/plain; charset=utf-8", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", jpeg)
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        frames = self.preview.frames
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = 0
        try:
            while not frames.stopping:
                seq_now, jpeg = frames.wait_newer(seq, timeout=1.0)
                if jpeg is None or seq_now == seq:
                    continue
                seq = seq_now
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
        except OSError:
            pass  # the viewer went away, or took no image for read_timeout
