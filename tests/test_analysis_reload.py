"""SIGHUP applies a changed ``analysis`` section without a restart, through the real daemon and App:
the real model on a looping video of one still person, a real Mosquitto, the jsonl sink with event
lines. A zone added is announced (Home Assistant configs, meta) and its state published; a zone
removed has its configs and retained state cleared; a section that cannot be built keeps the old
stage; a zone that stays (unchanged, or moved with the person still inside) fires no enter/leave."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgepose.app import App
from edgepose.config import load_config
from edgepose.mqtt.homeassistant import zone_discovery_messages
from edgepose.mqtt.topics import Topics
from edgepose.service.daemon import Daemon
from edgepose.service.notify import Notifier
from tests.builders.documents import validate_document
from tests.mosquitto import HOST, Collector, Mosquitto
from tests.service_kit import wait_until

DEVICE = "reload-test"
FPS = 20
# The squat image's person stands in the middle of the frame: "all" holds the feet, "corner" never does.
ALL = "{name: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], enter_after: 0, leave_after: 0.3}"
MOVED = (
    "{name: all, polygon: [[0.02, 0.02], [0.98, 0.02], [0.98, 0.98], [0.02, 0.98]], enter_after: 0.1, leave_after: 0.3}"
)
CORNER = "{name: corner, polygon: [[0, 0], [0.05, 0], [0.05, 0.05], [0, 0.05]], enter_after: 0, leave_after: 0}"
BODY = "{name: body, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], enter_after: 0, leave_after: 0}"
TIMEOUT = 60.0  # generous: a shared machine; nothing here measures time


@pytest.fixture(scope="module")
def still_video(squat_rgb: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """squat.bmp as 20 frames of MJPEG video (looped by the source: one person standing still)."""
    import cv2

    path = tmp_path_factory.mktemp("still") / "still.avi"
    bgr = cv2.cvtColor(squat_rgb, cv2.COLOR_RGB2BGR)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, bgr.shape[1::-1])
    for _ in range(20):
        writer.write(bgr)
    writer.release()
    return path


class Service:
    """A :class:`Daemon` over a real :class:`App`, serving on a thread; SIGHUP as the handler records it."""

    def __init__(self, tmp_path: Path, video: Path, broker: Mosquitto) -> None:
        self.path = tmp_path / "edgepose.yaml"
        self.out = tmp_path / "poses.jsonl"
        self.video, self.broker = video, broker
        self.topics: Topics | None = None
        self.daemon: Daemon | None = None
        self.code: int | None = None
        self._thread: threading.Thread | None = None

    def write(self, *zones: str, extra: str = "") -> None:
        self.path.write_text(
            f"device_id: {DEVICE}\nsinks: ['jsonl:{self.out}', mqtt]\n"
            f"source:\n  uri: {self.video}\n  loop: true\n  realtime: true\n"
            "model:\n  name: movenet_lightning_int8\n  threads: 1\n"
            f"mqtt:\n  host: {HOST}\n  port: {self.broker.port}\n  homeassistant:\n    enabled: true\n"
            f"analysis:\n  enabled: true\n  event_lines: true\n  zones: [{', '.join(zones)}]\n{extra}"
        )

    def load(self):  # type: ignore[no-untyped-def]
        return load_config(self.path, [], env={})

    def start(self) -> Service:
        config = self.load()
        self.topics = Topics.from_config(config)
        self.daemon = Daemon(App(config), Notifier(env={}), load=self.load)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        wait_until(
            lambda: self.daemon.first_frame.is_set() or not self._thread.is_alive(),
            timeout=TIMEOUT,
            what="the first frame",
        )
        assert self._thread.is_alive()
        return self

    def _serve(self) -> None:
        self.code = self.daemon.serve()

    def reload(self, caplog: pytest.LogCaptureFixture, text: str = "reloaded the configuration") -> None:
        seen = caplog.text.count(text)
        self.daemon.inbox.record(signal.SIGHUP)
        wait_until(lambda: caplog.text.count(text) > seen, timeout=TIMEOUT, what=repr(text))

    def lines(self) -> list[dict]:
        out = []
        for line in self.out.read_text().splitlines() if self.out.exists() else []:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # the line being written
                break
        return out

    def poses(self) -> list[dict]:
        return [d for d in self.lines() if d["schema"] != "edgepose.events/1"]

    def events(self) -> list[dict]:
        return [d for d in self.lines() if d["schema"] == "edgepose.events/1"]

    def frames_after(self, n: int) -> None:
        """Wait for ``n`` more pose documents than now."""
        now = len(self.poses())
        wait_until(lambda: len(self.poses()) >= now + n, timeout=TIMEOUT, what=f"{n} more frames")

    def stop(self) -> int | None:
        if self.daemon is not None and self._thread is not None:
            self.daemon.request_stop()
            self._thread.join(TIMEOUT)
        return self.code


@pytest.fixture
def service(
    tmp_path: Path, still_video: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> Iterator[Service]:
    caplog.set_level(logging.INFO)
    s = Service(tmp_path, still_video, broker)
    yield s
    s.stop()


def zone_configs(topics: Topics, *zones: str) -> list[str]:
    return [t for t, _ in zone_discovery_messages("homeassistant", DEVICE, topics, list(zones))]


def last(collector: Collector, topic: str) -> bytes | None:
    got = collector.on(topic)
    return got[-1].payload if got else None


def meta_zones(collector: Collector, topics: Topics) -> list[str]:
    """The zone names in the latest retained ``meta``."""
    return [z["name"] for z in json.loads(last(collector, topics.meta) or b"{}").get("zones", [])]


def test_a_reload_adding_a_zone_announces_it_and_publishes_its_state(service, broker, caplog) -> None:
    service.write(ALL)
    service.start()
    topics = service.topics
    collector = Collector(broker, ["homeassistant/#", f"{topics.prefix}/#"])
    try:
        assert collector.wait_for(lambda c: all(last(c, t) for t in zone_configs(topics, "all")), TIMEOUT)
        assert collector.wait_for(lambda c: (last(c, topics.zone("all")) or b"{}") != b"{}", TIMEOUT)
        assert not collector.on(topics.zone("corner"))
        service.write(ALL, CORNER)
        service.reload(caplog)
        assert "applied analysis.zones" in caplog.text
        wanted = zone_configs(topics, "corner")
        assert collector.wait_for(lambda c: all(last(c, t) for t in wanted), TIMEOUT)
        for topic in wanted:
            entity = collector.on(topic)[-1].json()
            assert entity["state_topic"] == topics.zone("corner")
        assert collector.wait_for(lambda c: bool(last(c, topics.zone("corner"))), TIMEOUT)
        state = collector.on(topics.zone("corner"))[-1].json()
        validate_document(state, "zones.v1.json")
        assert state["zone"] == "corner" and state["count"] == 0 and state["occupied"] is False
        assert collector.wait_for(lambda c: meta_zones(c, topics) == ["all", "corner"], TIMEOUT)
        meta = json.loads(last(collector, topics.meta))
        validate_document(meta, "meta.v1.json")
        assert meta["topics"]["zones/corner"] == topics.zone("corner")
        # A subscriber arriving now gets the new zone's entities and state, retained.
        late = Collector(broker, ["homeassistant/#", topics.zone("+")])
        assert late.wait_for(lambda c: {*wanted, topics.zone("corner")} <= {m.topic for m in c.messages}, TIMEOUT)
        assert all(m.retain for m in late.messages)
        late.close()
    finally:
        collector.close()
    assert service.stop() == 0


def test_a_reload_removing_a_zone_clears_its_entities_and_retained_state(service, broker, caplog) -> None:
    service.write(ALL, CORNER)
    service.start()
    topics = service.topics
    collector = Collector(broker, ["homeassistant/#", f"{topics.prefix}/#"])
    try:
        gone = zone_configs(topics, "corner")
        assert collector.wait_for(lambda c: all(last(c, t) for t in gone) and last(c, topics.zone("corner")), TIMEOUT)
        service.write(ALL)
        service.reload(caplog)
        assert collector.wait_for(lambda c: all(last(c, t) == b"" for t in gone), TIMEOUT)
        assert collector.wait_for(lambda c: last(c, topics.zone("corner")) == b"", TIMEOUT)
        assert all(last(collector, t) for t in zone_configs(topics, "all"))  # the zone kept keeps its entities
        assert collector.wait_for(lambda c: meta_zones(c, topics) == ["all"], TIMEOUT)
        assert "zones/corner" not in json.loads(last(collector, topics.meta))["topics"]
        service.frames_after(10)  # frames of the new stage: the gone zone's state is not published again
        assert last(collector, topics.zone("corner")) == b""
        late = Collector(broker, ["homeassistant/#", topics.zone("+")])
        kept = {*zone_configs(topics, "all"), topics.zone("all")}
        assert late.wait_for(lambda c: kept <= {m.topic for m in c.messages}, TIMEOUT)
        assert not {m.topic for m in late.messages} & {*gone, topics.zone("corner")}
        late.close()
    finally:
        collector.close()
    assert service.stop() == 0


def test_a_broken_analysis_section_on_reload_keeps_the_old_stage(service, broker, caplog, tmp_path) -> None:
    service.write(ALL)
    service.start()
    stage = service.daemon.app.pipeline.lanes[0].analysis
    # Refused at load: a self-intersecting polygon (the key path and line are in the message).
    bowtie = "{name: bow, polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]}"
    service.write(ALL, bowtie)
    service.reload(caplog, "reload failed")
    assert "reload failed, keeping the current configuration:" in caplog.text and "analysis.zones[1]" in caplog.text
    # Refused when built: matching on with an empty pose library.
    empty = tmp_path / "library"
    empty.mkdir()
    service.write(ALL, CORNER, extra=f"  behaviours:\n    match:\n      enabled: true\n      library: {empty}\n")
    service.reload(caplog, "has no usable pose")
    assert caplog.text.count("reload failed, keeping the current configuration:") == 2
    service.frames_after(10)
    assert service.daemon.app.pipeline.lanes[0].analysis is stage  # the old stage still runs
    assert service.daemon.config.analysis.zones == service.load().analysis.zones[:1]  # CORNER not taken
    assert service.stop() == 0
    assert "Traceback" not in caplog.text


def test_a_zone_that_stays_fires_no_enter_or_leave_across_reloads(service, broker, caplog) -> None:
    service.write(ALL)
    service.start()
    wait_until(
        lambda: any(e["kind"] == "zone_enter" for e in service.events()),
        timeout=TIMEOUT,
        what="the person entering 'all'",
    )
    service.frames_after(10)
    before = [e for e in service.events() if e["zone"] == "all"]
    assert [e["kind"] for e in before if e["kind"] != "zone_count"] == ["zone_enter"], before
    # Unchanged, beside a new zone that also holds the person: the new zone's enter proves the new stage ran.
    service.write(ALL, BODY)
    service.reload(caplog)
    wait_until(
        lambda: any(e["kind"] == "zone_enter" and e["zone"] == "body" for e in service.events()),
        timeout=TIMEOUT,
        what="the person entering 'body'",
    )
    # Moved and slower to enter, the person still inside: the state carries over, nothing fires either.
    service.write(MOVED, BODY)
    service.reload(caplog)
    service.frames_after(20)
    assert service.daemon.config.analysis.zones[0].polygon[0] == (0.02, 0.02)
    after = [e for e in service.events() if e["zone"] == "all"]
    assert after == before, after[len(before) :]
    for event in service.events():
        validate_document(event, "events.v1.json")
    assert service.stop() == 0


def test_a_reload_turning_falls_on_then_off_announces_then_clears_the_fall_sensor(service, broker, caplog) -> None:
    from edgepose.mqtt.homeassistant import fall_config_topic

    service.write(ALL)
    service.start()
    topics = service.topics
    config_topic = fall_config_topic("homeassistant", DEVICE, topics.camera)
    collector = Collector(broker, ["homeassistant/#", f"{topics.prefix}/#"])
    try:
        assert collector.wait_for(lambda c: bool(last(c, topics.zone("all"))), TIMEOUT)
        assert not collector.on(config_topic) and not collector.on(topics.fall)
        service.write(ALL, extra="  behaviours:\n    falls:\n      enabled: true\n")
        service.reload(caplog)
        assert collector.wait_for(lambda c: bool(last(c, config_topic)), TIMEOUT)
        assert json.loads(last(collector, config_topic))["state_topic"] == topics.fall
        assert collector.wait_for(lambda c: bool(last(c, topics.fall)), TIMEOUT)  # the new stage's first state
        state = json.loads(last(collector, topics.fall))
        validate_document(state, "fall.v1.json")
        assert state["detected"] is False
        assert collector.wait_for(
            lambda c: "falls" in json.loads(last(c, topics.meta) or b"{}").get("behaviours", []), TIMEOUT
        )
        service.write(ALL)
        service.reload(caplog)
        assert collector.wait_for(lambda c: last(c, config_topic) == b"" and last(c, topics.fall) == b"", TIMEOUT)
        assert collector.wait_for(lambda c: json.loads(last(c, topics.meta) or b"{}").get("behaviours") == [], TIMEOUT)
        service.frames_after(10)
        assert last(collector, topics.fall) == b""
    finally:
        collector.close()
    assert service.stop() == 0
