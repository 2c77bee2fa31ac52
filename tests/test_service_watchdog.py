"""The daemon in-process with a real model, a real NOTIFY_SOCKET and real HTTP: stalls and hangs.

Two ways the pipeline stops making progress, each made controllable without touching production
code: a source whose frames stop coming (its ``read`` blocks, as a camera's does when the cable is
pulled), and an engine whose ``invoke`` hangs (as a wedged Coral's does). In both, the watchdog
pings must stop within one interval and /healthz must answer 503 saying why.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgepose.app import App, AppParts, build_estimator
from edgepose.config import load_config
from edgepose.estimation.loaded import Loaded
from edgepose.service.daemon import Daemon
from edgepose.service.notify import Notifier
from edgepose.sources.files import ImageSource
from tests.mosquitto import Mosquitto
from tests.service_kit import NotifyListener, wait_until

WATCHDOG_S = 0.8
STALL_S = 0.4  # source.stall_timeout: /healthz turns 503 after this long without a processed frame


class Gate:
    """Open: calls pass. Closed: they block until opened again (or the test ends)."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.blocked = threading.Event()  # set while a call is waiting at the closed gate

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def pass_through(self) -> None:
        if not self._open.is_set():
            self.blocked.set()
            self._open.wait()
            self.blocked.clear()


class GatedSource(ImageSource):
    """The real image source, whose ``read`` blocks while the gate is closed (a stalled camera). It is
    live, as a camera is: the pipeline drops a frame it cannot take rather than holding capture back."""

    live = True

    def __init__(self, gate: Gate, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    def read(self):
        self.gate.pass_through()
        return super().read()


class GatedEngine:
    """The real engine, whose ``invoke`` hangs while the gate is closed (a wedged accelerator)."""

    def __init__(self, engine: Any, gate: Gate) -> None:
        self._engine = engine
        self.gate = gate

    def invoke(self, tensor):
        self.gate.pass_through()
        return self._engine.invoke(tensor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def gated_app(config, source_gate: Gate, engine_gate: Gate, image: Path) -> App:
    """The real app whose source and engine pass through the gates (parts injected, no subclass)."""

    def model(config, health, stats) -> Loaded:
        loaded = build_estimator(config, health, stats)
        loaded.estimator.engine = GatedEngine(loaded.estimator.engine, engine_gate)
        return loaded

    def source(config, health, stats, model_input) -> GatedSource:
        gated = GatedSource(source_gate, image, loop=True)
        gated.open()
        return gated

    return App(config, AppParts(model=model, source=source))


@pytest.fixture
def running(tmp_path: Path, squat_path: Path):
    """A daemon serving in a thread; yields (daemon, listener, source gate, engine gate)."""
    listener = NotifyListener(tmp_path / "notify.sock")
    config = load_config(
        None,
        [
            f"sinks=['jsonl:{tmp_path / 'poses.jsonl'}']",
            f"source.stall_timeout={STALL_S}",
            "service.health.enabled=true",
            "service.health.port=0",
        ],
    )
    source_gate, engine_gate = Gate(), Gate()
    app = gated_app(config, source_gate, engine_gate, squat_path)
    daemon = Daemon(app, Notifier({"NOTIFY_SOCKET": listener.address}), watchdog=WATCHDOG_S)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(daemon.serve()), daemon=True)
    thread.start()
    try:
        listener.wait_for("READY", "1")
        yield daemon, listener, source_gate, engine_gate
    finally:
        source_gate.open()
        engine_gate.open()
        daemon.request_stop()
        thread.join(10)
        listener.close()
    assert not thread.is_alive()
    assert codes == [0]


def get(daemon: Daemon, path: str) -> tuple[int, str]:
    assert daemon.health_server is not None
    host, port = daemon.health_server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def pings_after(listener: NotifyListener, t: float) -> list[float]:
    return [m.mono for m in listener.with_key("WATCHDOG", "1") if m.mono > t]


@pytest.mark.parametrize("where", ["source", "engine"])  # a stalled camera; a hung invoke
def test_pings_stop_within_one_interval_and_healthz_says_why(running, where):
    daemon, listener, source_gate, engine_gate = running
    gate = source_gate if where == "source" else engine_gate
    time.sleep(2 * WATCHDOG_S)
    assert len(pings_after(listener, 0)) >= 4, "no watchdog pings while frames flow"
    code, body = get(daemon, "/healthz")
    assert code == 200 and json.loads(body) == {"status": "ok", "reasons": []}

    gate.close()
    wait_until(gate.blocked.is_set, timeout=5, what=f"the {where} to block")
    stalled_at = daemon.app.stats.last_progress_mono  # the last frame that got through
    time.sleep(2 * WATCHDOG_S)
    late = [t for t in pings_after(listener, stalled_at) if t > stalled_at + WATCHDOG_S]
    assert not late, f"pinged {late[-1] - stalled_at:.2f} s after the last processed frame"

    code, body = get(daemon, "/healthz")
    reply = json.loads(body)
    assert code == 503 and reply["status"] == "unhealthy"
    assert f"pipeline: no frame processed for more than {STALL_S:g} s" in reply["reasons"]
    assert "no frame processed" in listener.with_key("STATUS")[-1].fields["STATUS"]
    # A camera that gives nothing sees nobody; one whose frames wait for a hung engine keeps its count.
    assert daemon.app.stats.people == (0 if where == "source" else 1)

    gate.open()  # frames flow again: pings resume, healthy again
    resumed = time.monotonic()
    wait_until(lambda: pings_after(listener, resumed), timeout=5, what="pings to resume")
    assert get(daemon, "/healthz")[0] == 200
    assert daemon.app.stats.people == 1


def test_metrics_parse_and_agree_with_the_stats(running):
    daemon, _listener, _source_gate, _engine_gate = running
    wait_until(lambda: daemon.app.stats.processed >= 10, what="10 frames")
    code, text = get(daemon, "/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {f.name: f.samples[0].value for f in families.values() if len(f.samples) == 1}
    # The parser strips the _total suffix from counter family names.
    processed = value["edgepose_frames_processed"]
    assert processed >= 10 and processed <= daemon.app.stats.processed
    assert families["edgepose_frames_processed"].type == "counter"
    assert value["edgepose_ready"] == 1 and value["edgepose_healthy"] == 1
    assert value["edgepose_people"] == 1  # squat.bmp: one person
    quantiles = {s.labels["quantile"]: s.value for s in families["edgepose_inference_milliseconds"].samples}
    assert set(quantiles) == {"0.5", "0.95"} and quantiles["0.5"] > 0  # measured (p50 <= p95 by definition)
    sinks = {s.labels["sink"]: s.value for s in families["edgepose_sink_dropped"].samples}
    assert list(sinks.values()) == [0] and next(iter(sinks)).startswith("jsonl:")
    assert get(daemon, "/nothing")[0] == 404


def test_healthz_is_503_while_starting(tmp_path, squat_path):
    """Before the first frame the service is not ready: /healthz says so, and no watchdog ping."""
    listener = NotifyListener(tmp_path / "notify.sock")
    config = load_config(
        None, [f"sinks=['jsonl:{tmp_path / 'poses.jsonl'}']", "service.health.enabled=true", "service.health.port=0"]
    )
    source_gate, engine_gate = Gate(), Gate()
    engine_gate.close()  # the first invoke hangs: start-up never completes
    daemon = Daemon(
        gated_app(config, source_gate, engine_gate, squat_path),
        Notifier({"NOTIFY_SOCKET": listener.address}),
        watchdog=WATCHDOG_S,
    )
    thread = threading.Thread(target=daemon.serve, daemon=True)
    thread.start()
    try:
        wait_until(engine_gate.blocked.is_set, timeout=20, what="the first invoke")
        wait_until(lambda: listener.with_key("EXTEND_TIMEOUT_USEC"), timeout=5, what="EXTEND_TIMEOUT_USEC")
        code, body = get(daemon, "/healthz")
        assert code == 503 and json.loads(body)["status"] == "starting"
        assert not listener.with_key("READY") and not listener.with_key("WATCHDOG")
    finally:
        engine_gate.open()
        daemon.request_stop()
        thread.join(10)
        listener.close()
    assert not thread.is_alive()


def test_a_broker_refusing_the_login_is_unhealthy_by_name_while_the_watchdog_pings(tmp_path, squat_path):
    """A wrong password cannot be mended by a restart (nor by a retry, until the broker's password
    file changes): /healthz names the refusal, the pings go on, and the buffer is kept. Once the
    broker takes the password (its password file changed and reloaded), it is healthy again."""
    broker = Mosquitto(tmp_path / "broker", users={"edgepose": "the-brokers-one"}).start()
    listener = NotifyListener(tmp_path / "notify.sock")
    config = load_config(
        None,
        [
            "sinks=['mqtt']",
            "device_id=testpi",
            "mqtt.host=127.0.0.1",
            f"mqtt.port={broker.port}",
            "mqtt.username=edgepose",
            "mqtt.password_env=PW",
            "mqtt.reconnect_min=0.05",
            "mqtt.reconnect_max=0.2",
            "mqtt.stats_interval=0",
            "service.health.enabled=true",
            "service.health.port=0",
        ],
        env={"PW": "not-the-brokers"},
    )
    daemon = Daemon(
        gated_app(config, Gate(), Gate(), squat_path),
        Notifier({"NOTIFY_SOCKET": listener.address}),
        watchdog=WATCHDOG_S,
    )
    thread = threading.Thread(target=daemon.serve, daemon=True)
    thread.start()
    try:
        listener.wait_for("READY", "1")  # frames flow; the sink buffers
        wait_until(lambda: get(daemon, "/healthz")[0] == 503, timeout=10, what="/healthz to report the refusal")
        reasons = json.loads(get(daemon, "/healthz")[1])["reasons"]
        assert [r for r in reasons if r.startswith("sink mqtt: ")] == reasons and len(reasons) == 1
        assert "refused the connection: Not authorized" in reasons[0] and "not-the-brokers" not in reasons[0]
        refused = time.monotonic()
        wait_until(lambda: len(pings_after(listener, refused)) >= 2, timeout=10, what="pings while refused")
        subprocess.run(
            ["mosquitto_passwd", "-b", str(broker.directory / "passwd"), "edgepose", "not-the-brokers"],
            check=True,
            capture_output=True,
        )
        broker.proc.send_signal(signal.SIGHUP)  # mosquitto reloads its password file
        wait_until(lambda: get(daemon, "/healthz")[0] == 200, timeout=20, what="healthy once the login is taken")
        wait_until(lambda: daemon.app.sinks[0].counters()["queue_depth"] == 0, timeout=20, what="the buffer sent")
        assert daemon.app.sinks[0].dropped == 0  # what was buffered while refused went out
    finally:
        daemon.request_stop()
        thread.join(10)
        listener.close()
        broker.stop()
    assert not thread.is_alive()
