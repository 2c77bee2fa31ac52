"""The daemon with several cameras, in-process: SIGHUP adds, removes and restarts cameras alone; a reload
that cannot be built changes nothing; health names a stalled camera while the watchdog goes on pinging for
the others; /metrics per camera; the reload plan with and without cameras.

The real model (from ``EDGEPOSE_MODEL_DIRS``) and the real App and Daemon run here. The reload tests use
the real file sources (the shared video and images, looping, read with back-pressure, so every frame is one
document and a camera's frame numbers run 0, 1, 2... without a gap). The health tests use live cameras
whose ``read`` a test can stall (:class:`GatedCamera`) and an injected clock the test advances, so "stalled
for longer than source.stall_timeout" is a step of that clock, never a wait measured on the wall.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgepose.app import App, AppParts, build_estimator, open_source
from edgepose.backoff import Backoff
from edgepose.config import load_config
from edgepose.config.sections import Config
from edgepose.documents.output import CameraQuiet, Output
from edgepose.errors import EdgeposeError, InputError
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.service.daemon import Daemon
from edgepose.service.health_http import healthz_body, render_metrics
from edgepose.service.notify import Notifier
from edgepose.service.reload import changed_keys, plan_reload
from edgepose.sources.base import Source
from edgepose.sources.retry import RetryingSource
from edgepose.stats import RunStats
from tests.service_kit import wait_until

TIMEOUT = 60.0  # generous bounds for the polling helpers on a shared machine; nothing measures time
FRAMES = 4  # documents each camera gives before a step of a test goes on

# -- the cameras' config file ---------------------------------------------------------------------


def write_config(
    path: Path, out: Path, cameras: dict[str, str] | None, extra: str = "", uri: str = "", overlap: str = "auto"
) -> None:
    """A daemon's config: the jsonl sink, the real MoveNet on one thread, each camera a looping file (a
    camera's value: its uri, or its whole entry as a YAML flow mapping; ``cameras`` None: the single source
    form, of ``uri``). ``overlap``: ``model.overlap`` (auto: serial on the CPU; on: the overlapped schedule)."""
    entries = "".join(
        f"  {name}: {at if at.startswith('{') else f'{{source: {{uri: {at!r}}}}}'}\n"
        for name, at in (cameras or {}).items()
    )
    path.write_text(
        f"sinks: ['jsonl:{out}']\n"
        f"model: {{name: movenet_lightning_int8, threads: 1, overlap: {overlap}}}\n"
        + (
            f"source: {{loop: true}}\ncameras:\n{entries}"
            if cameras is not None
            else f"source: {{loop: true, uri: '{uri}'}}\n"
        )
        + extra
    )


def documents(path: Path) -> list[dict]:
    """Complete lines only: the sink may be writing the last one."""
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def frames_of(docs: list[dict], camera: str) -> list[int]:
    return [d["frame"] for d in docs if d["camera"] == camera]


def assert_unbroken(frames: list[int], camera: str) -> None:
    """A camera's documents in order from frame 0, none missing (its source was never restarted)."""
    assert frames == list(range(len(frames))), f"camera {camera}: frames {frames[:50]}"


def runs_from_zero(frames: list[int]) -> list[list[int]]:
    """A camera's frame numbers split where they start again from 0 (a restart of its source)."""
    runs: list[list[int]] = []
    for n in frames:
        if n == 0 or not runs:
            runs.append([])
        runs[-1].append(n)
    return runs


# -- a notifier that records, and a daemon that counts its ticks ----------------------------------


class RecordingNotifier(Notifier):
    """systemd's side, in the test: every notification as the daemon sent it, in order."""

    def __init__(self) -> None:
        super().__init__(env={})
        self.lock = threading.Lock()
        self.sent: list[tuple[str, ...]] = []

    def send(self, *lines: str) -> bool:
        with self.lock:
            self.sent.append(lines)
        return True

    def seen(self, line: str) -> bool:
        with self.lock:
            return any(line in lines for lines in self.sent)

    def in_order(self, first: str, then: str) -> bool:
        """Whether a notification with ``then`` came after the last one with ``first``."""
        with self.lock:
            sent = list(self.sent)
        last = max((i for i, lines in enumerate(sent) if first in lines), default=None)
        return last is not None and any(then in lines for lines in sent[last + 1 :])

    def pings(self) -> int:
        with self.lock:
            return sum("WATCHDOG=1" in lines for lines in self.sent)

    def statuses(self) -> list[str]:
        with self.lock:
            return [x[len("STATUS=") :] for lines in self.sent for x in lines if x.startswith("STATUS=")]


class TickingDaemon(Daemon):
    """The real daemon, recording for each tick of its main loop whether that tick pinged the watchdog
    (the notifier records synchronously, so a tick's ping is recorded before the tick is)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticks: list[bool] = []

    def check(self, now: float) -> None:
        notifier: RecordingNotifier = self.notifier  # type: ignore[assignment]
        before = notifier.pings()
        super().check(now)
        self.ticks.append(notifier.pings() > before)


# -- the daemon over the real sources, reloaded from its file --------------------------------------


@dataclass
class SourceLog:
    """:class:`AppParts`' default source, remembering each camera's source opened and closed."""

    opened: list[tuple[str, Source]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def __call__(self, config: Config, health: Health, stats: RunStats, model_input: tuple[int, int] | None):
        source = open_source(config, health, stats, model_input)
        name, close = config.source.camera, source.close

        def closing() -> None:
            self.closed.append(name)
            close()

        source.close = closing  # type: ignore[method-assign]
        self.opened.append((name, source))
        return source

    def names(self) -> list[str]:
        return [name for name, _ in self.opened]


class FileService:
    """A :class:`Daemon` over a real :class:`App`, serving on a thread, reloaded from its config file."""

    def __init__(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.path = tmp_path / "edgepose.yaml"
        self.out = tmp_path / "poses.jsonl"
        self.caplog = caplog
        self.sources = SourceLog()
        self.notifier = RecordingNotifier()
        self.overlap = "auto"  # model.overlap: a test may ask for the overlapped schedule before start()
        self.extra = ""  # more top-level sections (YAML) for the next write
        self.daemon: Daemon | None = None
        self.outcome: list[int | BaseException] = []  # what serve() returned, or raised
        self.ends_by_itself = False  # a test that makes the daemon end sets this
        self._thread: threading.Thread | None = None

    def write(self, cameras: dict[str, str]) -> None:
        write_config(self.path, self.out, cameras, self.extra, overlap=self.overlap)

    def load(self) -> Config:
        return load_config(self.path, [], env={})

    def start(self, cameras: dict[str, str]) -> FileService:
        self.write(cameras)
        self.daemon = Daemon(App(self.load(), AppParts(source=self.sources)), self.notifier, load=self.load)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        for name in cameras:
            self.wait_frames(name, FRAMES)
        wait_until(lambda: self.notifier.seen("READY=1"), timeout=TIMEOUT, what="READY=1")
        return self

    def _serve(self) -> None:
        try:
            self.outcome.append(self.daemon.serve())
        except BaseException as exc:  # what `edgepose run` would exit with
            self.outcome.append(exc)

    @property
    def app(self) -> App:
        assert self.daemon is not None
        return self.daemon.app

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def frames(self, camera: str) -> list[int]:
        return frames_of(documents(self.out), camera)

    def wait_frames(self, camera: str, n: int) -> None:
        """Wait for ``n`` more documents of ``camera`` than there are now."""
        assert self._thread is not None
        start = len(self.frames(camera))

        def enough() -> bool:
            assert self._thread.is_alive(), f"the daemon ended: {self.caplog.text[-2000:]}"
            return len(self.frames(camera)) >= start + n

        wait_until(enough, timeout=TIMEOUT, what=f"{n} more documents of camera {camera}")

    def reload(self, cameras: dict[str, str], *texts: str) -> str:
        """Rewrite the file, SIGHUP as the handler records it, and wait for each of ``texts`` to be logged
        once more (the daemon's line and the pipeline's come from two threads, in either order)."""
        assert self.daemon is not None
        self.write(cameras)
        texts = texts or ("reloaded the configuration",)
        seen = {text: self.caplog.text.count(text) for text in texts}
        self.daemon.inbox.record(signal.SIGHUP)
        for text in texts:
            wait_until(lambda: self.caplog.text.count(text) > seen[text], timeout=TIMEOUT, what=repr(text))  # noqa: B023
        return self.caplog.text

    def stop(self) -> None:
        if self.daemon is not None and self._thread is not None:
            self.daemon.request_stop()
            self._thread.join(TIMEOUT)
            assert not self._thread.is_alive()


@pytest.fixture
def files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[FileService]:
    caplog.set_level(logging.INFO)
    service = FileService(tmp_path, caplog)
    yield service
    service.stop()
    assert service.ends_by_itself or service.outcome == [0]


@pytest.fixture
def two_cameras(walking_video: Path, squat_path: Path) -> dict[str, str]:
    """The shared video and the squat image, each looping: the cameras every reload test starts with."""
    return {"video": str(walking_video), "still": str(squat_path)}


# -- 1. SIGHUP adds, removes and restarts a camera, the others going on ---------------------------


@pytest.mark.parametrize("overlap", ["auto", "on"])  # serial on the CPU; the overlapped schedule
def test_sighup_adds_a_camera_and_the_others_go_on(files, two_cameras, shared, overlap):
    files.overlap = overlap
    files.start(two_cameras)
    assert files.app.pipeline.overlap == (overlap == "on")
    third = {**two_cameras, "third": str(shared / "images" / "posenet_test_image.bmp")}
    log = files.reload(third, "reloaded the configuration", "camera third added")
    assert "reloaded the configuration: applied cameras.third\n" in log  # nothing waits for a restart
    wait_until(
        lambda: files.notifier.in_order("RELOADING=1", "READY=1"), timeout=TIMEOUT, what="RELOADING=1 then READY=1"
    )  # systemd hears of the reload and its end
    files.wait_frames("third", FRAMES)
    files.wait_frames("video", FRAMES)
    files.wait_frames("still", FRAMES)

    docs = documents(files.out)
    for name in third:
        assert_unbroken(frames_of(docs, name), name)
    assert {(d["width"], d["height"]) for d in docs if d["camera"] == "third"} == {(640, 480)}
    assert files.app.pipeline.cameras == ("video", "still", "third")  # joined at the end of the round-robin
    assert files.sources.names() == ["video", "still", "third"]  # the others were not opened again
    assert files.sources.closed == []
    wait_until(
        lambda: "camera third" in files.app.health.components(), timeout=TIMEOUT, what="camera third's health component"
    )  # the daemon's next tick
    assert healthz_body(files.daemon.probe())[0] == 200
    assert set(files.daemon.probe().cameras) == {"video", "still", "third"}


@pytest.mark.parametrize("overlap", ["auto", "on"])  # serial on the CPU; the overlapped schedule
def test_sighup_removes_a_camera_and_the_others_go_on(files, two_cameras, overlap):
    files.overlap = overlap
    files.start(two_cameras)
    wait_until(lambda: "camera still" in files.app.health.components(), timeout=TIMEOUT, what="camera still's health")
    log = files.reload({"video": two_cameras["video"]}, "reloaded the configuration", "camera still removed")
    assert "reloaded the configuration: applied cameras.still\n" in log
    wait_until(lambda: files.sources.closed == ["still"], timeout=TIMEOUT, what="camera still's source to close")
    # A still frame read before the close may still be on the engine or in the sink's queue (overlapped,
    # one was published after it): documents come out in the order frames were taken, so once more
    # video frames are out, every still frame taken before the close is too.
    files.wait_frames("video", FRAMES)
    left = len(files.frames("still"))
    files.wait_frames("video", 2 * FRAMES)

    docs = documents(files.out)
    assert len(frames_of(docs, "still")) == left, "camera still went on after it was removed and closed"
    assert_unbroken(frames_of(docs, "video"), "video")
    assert_unbroken(frames_of(docs, "still"), "still")  # what it gave before it left, all of it in order
    assert files.app.pipeline.cameras == ("video",)
    assert files.sources.names() == ["video", "still"]
    assert "camera still" not in files.app.health.components()
    assert "still" not in files.app.stats.cameras
    probe = files.daemon.probe()
    assert set(probe.cameras) == {"video"}
    assert 'camera="still"' not in render_metrics(probe) and 'camera="video"' in render_metrics(probe)
    assert healthz_body(probe)[0] == 200


@pytest.mark.parametrize("overlap", ["auto", "on"])  # serial on the CPU; the overlapped schedule
def test_sighup_changing_one_cameras_source_restarts_that_camera_only(files, two_cameras, shared, overlap):
    files.overlap = overlap
    files.start(two_cameras)
    other = str(shared / "images" / "posenet_test_image.bmp")
    log = files.reload({**two_cameras, "still": other}, "reloaded the configuration", "camera still added")
    assert "reloaded the configuration: applied cameras.still.source.uri\n" in log
    files.wait_frames("still", FRAMES)
    files.wait_frames("video", FRAMES)

    docs = documents(files.out)
    assert_unbroken(frames_of(docs, "video"), "video")
    before, after = runs_from_zero(frames_of(docs, "still"))  # its numbers start again, once
    assert before == list(range(len(before))) and after == list(range(len(after)))
    sizes = [(d["width"], d["height"]) for d in docs if d["camera"] == "still"]
    assert set(sizes[: len(before)]) == {(500, 610)} and set(sizes[len(before) :]) == {(640, 480)}
    assert files.sources.names() == ["video", "still", "still"]  # the video was not opened again
    assert files.sources.closed == ["still"]  # the old file was closed before the new one ran
    assert files.app.pipeline.cameras == ("video", "still")
    assert files.app.sources["still"] is files.sources.opened[-1][1]


def test_sighup_changing_one_cameras_decoder_applies_to_that_camera_alone(files, squat_path, shared):
    """The squat image's person scores about 0.75: camera strict's threshold 0.99 hides it from then on,
    camera lenient still reports its person; neither camera is restarted (no gap, no new frame 0)."""
    lenient = str(shared / "images" / "posenet_test_image.bmp")
    cameras = {"strict": str(squat_path), "lenient": lenient}
    files.start(cameras)
    assert all(d["poses"] for d in documents(files.out) if d["camera"] == "strict")
    strict = f"{{source: {{uri: '{squat_path}'}}, decoder: {{min_pose_score: 0.99}}}}"
    log = files.reload({**cameras, "strict": strict})
    assert "reloaded the configuration: applied cameras.strict.decoder.min_pose_score\n" in log
    reloaded_at = len(files.frames("strict"))
    files.wait_frames("strict", FRAMES)
    files.wait_frames("lenient", FRAMES)

    docs = documents(files.out)
    after = [d for d in docs if d["camera"] == "strict"][reloaded_at + 1 :]  # the frame in flight may have either
    assert after and all(d["poses"] == [] for d in after), "min_pose_score 0.99 still reported a pose scoring 0.75"
    assert all(d["poses"] for d in docs if d["camera"] == "lenient")
    assert_unbroken(frames_of(docs, "strict"), "strict")
    assert_unbroken(frames_of(docs, "lenient"), "lenient")
    assert files.sources.names() == ["strict", "lenient"] and files.sources.closed == []


def test_sighup_turning_the_analysis_on_reaches_every_camera_without_a_restart(files, two_cameras):
    """``analysis`` is the daemon's, built per camera: turned on by a reload, every camera's documents carry
    the joint angles from then on, and no camera is restarted."""
    files.start(two_cameras)
    assert not any("angles" in p for d in documents(files.out) for p in d["poses"])
    files.extra = "analysis: {enabled: true, angles: true}\n"
    log = files.reload(two_cameras)
    assert "reloaded the configuration: applied analysis.enabled\n" in log
    reloaded_at = {name: len(files.frames(name)) for name in two_cameras}
    for name in two_cameras:
        files.wait_frames(name, FRAMES)

    docs = documents(files.out)
    for name in two_cameras:
        mine = [d for d in docs if d["camera"] == name]
        after = [p for d in mine[reloaded_at[name] + 1 :] for p in d["poses"]]  # the frame in flight: either
        assert after and all("angles" in p for p in after), f"camera {name}: no angles after the reload"
        assert_unbroken(frames_of(docs, name), name)
    assert files.sources.closed == []


def test_a_removed_camera_can_be_added_back(files, two_cameras):
    files.start(two_cameras)
    files.reload({"video": two_cameras["video"]}, "reloaded the configuration", "camera still removed")
    wait_until(lambda: files.sources.closed == ["still"], timeout=TIMEOUT, what="camera still's source to close")
    files.reload(two_cameras, "reloaded the configuration", "camera still added")
    files.wait_frames("still", FRAMES)
    files.wait_frames("video", FRAMES)

    counted = files.app.stats.cameras["still"].processed  # read before the documents: a frame is written, then counted
    docs = documents(files.out)
    assert_unbroken(frames_of(docs, "video"), "video")
    runs = runs_from_zero(frames_of(docs, "still"))  # a new source: its numbers start again
    assert len(runs) == 2 and all(run == list(range(len(run))) for run in runs)
    assert files.app.pipeline.cameras == ("video", "still")
    wait_until(lambda: "camera still" in files.app.health.components(), timeout=TIMEOUT, what="its health again")
    assert set(files.daemon.probe().cameras) == {"video", "still"}
    assert counted <= len(runs[1])  # its figures start again too


@pytest.mark.parametrize("overlap", ["auto", "on"])  # serial on the CPU; the overlapped schedule
def test_sighup_restarting_every_camera_at_once_keeps_the_daemon_running(files, two_cameras, shared, overlap):
    """Every camera's source changes in one reload (here the two swap files): each is restarted, and the
    daemon goes on with both (not "the source ended" because, for a moment, no camera was running)."""
    files.overlap = overlap
    files.start(two_cameras)
    other = str(shared / "images" / "posenet_test_image.bmp")
    swapped = {"video": other, "still": two_cameras["video"]}
    log = files.reload(swapped, "reloaded the configuration", "camera video removed", "camera still removed")
    assert "applied cameras.video.source.uri, cameras.still.source.uri\n" in log
    files.wait_frames("video", FRAMES)
    files.wait_frames("still", FRAMES)

    docs = documents(files.out)
    for name in swapped:
        before, after = runs_from_zero(frames_of(docs, name))
        assert before == list(range(len(before))) and after == list(range(len(after)))
    assert {(d["width"], d["height"]) for d in docs if d["camera"] == "video"} >= {(1280, 720), (640, 480)}
    assert files.app.pipeline.cameras == ("video", "still") or files.app.pipeline.cameras == ("still", "video")
    assert sorted(files.sources.closed) == ["still", "video"]


def test_sighup_renaming_a_camera_removes_the_old_and_adds_the_new(files, two_cameras):
    """One reload that removes a camera and adds another (a rename): the old one's documents stop, the new
    one's start from frame 0, the other camera goes on."""
    files.start(two_cameras)
    renamed = {"video": two_cameras["video"], "porch": two_cameras["still"]}
    log = files.reload(renamed, "reloaded the configuration", "camera still removed", "camera porch added")
    assert "reloaded the configuration: applied cameras.still, cameras.porch\n" in log
    wait_until(lambda: files.sources.closed == ["still"], timeout=TIMEOUT, what="camera still's source to close")
    left = len(files.frames("still"))
    files.wait_frames("porch", FRAMES)
    files.wait_frames("video", FRAMES)

    docs = documents(files.out)
    assert len(frames_of(docs, "still")) == left
    assert_unbroken(frames_of(docs, "porch"), "porch")
    assert_unbroken(frames_of(docs, "video"), "video")
    assert files.app.pipeline.cameras == ("video", "porch")
    wait_until(lambda: "camera porch" in files.app.health.components(), timeout=TIMEOUT, what="porch's health")
    assert "camera still" not in files.app.health.components()
    assert set(files.daemon.probe().cameras) == {"video", "porch"}


def test_max_frames_counts_per_camera_and_the_daemon_ends_by_itself(tmp_path, two_cameras, caplog):
    """``edgepose run --max-frames N`` with cameras: each file camera gives exactly N documents, frames 0 to
    N-1, then the daemon ends cleanly saying why."""
    caplog.set_level(logging.INFO)
    path, out = tmp_path / "edgepose.yaml", tmp_path / "poses.jsonl"
    write_config(path, out, two_cameras)
    daemon = Daemon(App(load_config(path, [], env={})), RecordingNotifier())
    assert daemon.serve(max_frames=FRAMES) == 0
    docs = documents(out)
    assert {name: frames_of(docs, name) for name in two_cameras} == {name: list(range(FRAMES)) for name in two_cameras}
    assert f"stopping: --max-frames {FRAMES} reached" in caplog.text


def test_a_reload_whose_every_camera_fails_to_restart_ends_the_daemon_with_an_error(files, two_cameras, tmp_path):
    """Every camera's new source is missing: each restart fails, no camera is left, so the daemon ends, and
    with an error (systemd's Restart=on-failure then tries again, and the start names what is wrong)
    rather than as a clean end of its sources."""
    files.start(two_cameras)
    files.ends_by_itself = True
    files.write({name: str(tmp_path / f"{name}-gone.bmp") for name in two_cameras})
    files.daemon.inbox.record(signal.SIGHUP)
    wait_until(lambda: not files.alive, timeout=TIMEOUT, what="the daemon to end by itself")
    [outcome] = files.outcome
    assert isinstance(outcome, EdgeposeError) and "source not found" in outcome.message, outcome
    log = files.caplog.text
    for name in two_cameras:
        assert f"camera {name} could not be restarted with its new settings: source not found" in log


# -- 2. a reload that cannot be built changes nothing ---------------------------------------------


def test_sighup_adding_a_camera_that_cannot_be_opened_changes_nothing(files, two_cameras, tmp_path):
    files.start(two_cameras)
    before = files.daemon.config
    missing = tmp_path / "nowhere" / "ghost.bmp"
    log = files.reload({**two_cameras, "ghost": str(missing)}, "reload failed")
    assert "reload failed, keeping the current configuration: camera ghost: source not found" in log
    assert "reloaded the configuration" not in log
    files.wait_frames("video", FRAMES)
    files.wait_frames("still", FRAMES)

    docs = documents(files.out)
    assert not frames_of(docs, "ghost")
    assert_unbroken(frames_of(docs, "video"), "video")
    assert_unbroken(frames_of(docs, "still"), "still")
    assert files.daemon.config is before and set(files.app.config.cameras) == {"video", "still"}
    assert files.app.pipeline.cameras == ("video", "still")
    assert set(files.app.sources) == {"video", "still"}
    assert "camera ghost" not in files.app.health.components()
    assert set(files.daemon.probe().cameras) == {"video", "still"}  # no figures of a camera that never ran


def test_sighup_adding_two_cameras_one_missing_adds_neither_and_leaves_nothing_open(
    files, two_cameras, shared, tmp_path
):
    files.start(two_cameras)
    good = str(shared / "images" / "posenet_test_image.bmp")
    log = files.reload({**two_cameras, "good": good, "ghost": str(tmp_path / "ghost.bmp")}, "reload failed")
    assert "reload failed, keeping the current configuration: camera ghost: source not found" in log
    files.wait_frames("video", FRAMES)

    assert not frames_of(documents(files.out), "good")
    assert files.app.pipeline.cameras == ("video", "still")
    assert set(files.app.sources) == {"video", "still"}
    assert files.sources.closed == ["good"], "the camera opened for a reload that failed was left open"
    assert set(files.daemon.probe().cameras) == {"video", "still"}

    files.reload({**two_cameras, "good": good}, "camera good added")  # the same camera, once it can be built
    files.wait_frames("good", FRAMES)
    assert_unbroken(files.frames("good"), "good")
    assert_unbroken(files.frames("video"), "video")


def test_a_camera_whose_restart_failed_comes_back_when_the_config_is_fixed(files, two_cameras, tmp_path):
    """A changed source that cannot be opened leaves that camera out, said in health; fixing the config and
    reloading (what the health reason says to do) brings it back, the others going on throughout."""
    files.start(two_cameras)
    log = files.reload(
        {**two_cameras, "still": str(tmp_path / "gone.bmp")}, "reloaded the configuration", "could not be restarted"
    )
    assert "camera still could not be restarted with its new settings: " in log and "source not found" in log
    wait_until(
        lambda: any(r.startswith("camera still: not running: ") for r in files.daemon.probe().reasons),
        timeout=TIMEOUT,
        what="camera still reported not running",
    )
    assert files.app.pipeline.cameras == ("video",)
    files.wait_frames("video", FRAMES)

    files.reload(two_cameras, "camera still added")
    files.wait_frames("still", FRAMES)
    files.wait_frames("video", FRAMES)
    assert files.app.pipeline.cameras == ("video", "still")
    assert_unbroken(files.frames("video"), "video")
    wait_until(lambda: healthz_body(files.daemon.probe())[0] == 200, timeout=TIMEOUT, what="healthy again")


# -- 3. health and the watchdog, with cameras a test can stall -------------------------------------

WATCHDOG_S = 0.4  # on the injected clock; the main loop ticks every quarter of it (real seconds)
STALL_S = 1.0  # source.stall_timeout, on the injected clock
PACE_S = 0.01  # a gated camera's frame period (real seconds: keeps its capture thread from spinning)


class FakeClock:
    """Monotonic seconds that move only when the test says: the pipeline's, the scheduler's and the daemon's."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class Gate:
    """Open: reads pass. Closed: a read blocks until opened again or its camera is interrupted."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self.blocked = threading.Event()  # set while a read waits at the closed gate

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    def pass_through(self, cancelled: threading.Event) -> None:
        if self._open.is_set():
            return
        self.blocked.set()
        while not self._open.wait(0.02) and not cancelled.is_set():
            pass
        self.blocked.clear()


class GatedCamera(Source):
    """A live camera of one still image whose frames stop while its gate is closed (a pulled cable)."""

    live = True
    continuous = True

    def __init__(self, name: str, image: np.ndarray, gate: Gate, clock: Callable[[], float]) -> None:
        self.name = name
        self.image = image
        self.gate = gate
        self.clock = clock
        self.count = 0
        self.closed = False
        self.error: Exception | None = None  # set: the next read raises it (a camera gone for good)
        self.stuck = False  # set: a read blocked at the gate ignores interrupt (stuck in a native call)
        self._interrupted = threading.Event()
        self._never = threading.Event()

    def open(self) -> None:  # (again, after close: a RetryingSource reopening it)
        self.closed = False
        self._interrupted.clear()

    def read(self) -> Frame | None:
        self.gate.pass_through(self._never if self.stuck else self._interrupted)
        if self._interrupted.is_set():
            return None
        if self.error is not None:
            raise self.error
        time.sleep(PACE_S)
        frame = Frame(self.image, self.count, time.time(), self.clock(), self.name)
        self.count += 1
        return frame

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self.closed = True
        self._interrupted.set()


class GatedEngine:
    """The real engine, whose ``invoke`` hangs while its gate is closed (a wedged accelerator)."""

    def __init__(self, engine: Any, gate: Gate) -> None:
        self._engine = engine
        self.gate = gate
        self._never = threading.Event()

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.gate.pass_through(self._never)
        return self._engine.invoke(tensor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@dataclass
class GatedService:
    daemon: TickingDaemon
    notifier: RecordingNotifier
    clock: FakeClock
    gates: dict[str, Gate]  # by camera; a camera a reload adds gets an open gate unless the test made one
    cameras: dict[str, GatedCamera]  # the last source opened for each camera
    path: Path  # the config file SIGHUP reloads
    image: Path
    overrides: list[str]  # --set options of every load, the file's reloads included
    engine_gate: Gate  # closed: the shared engine's invoke hangs (a wedged Coral)
    retrying: set[str]  # cameras to open inside a RetryingSource (a test adds to it before a reload)
    opened: list[GatedCamera]  # every camera source opened, in order
    outcome: list[int | BaseException] = field(default_factory=list)  # what serve() returned, or raised
    thread: threading.Thread | None = None

    def serve(self) -> None:
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.outcome.append(self.daemon.serve())
        except BaseException as exc:  # what `edgepose run` would exit with
            self.outcome.append(exc)

    def stop(self) -> list[int | BaseException]:
        """SIGTERM as the handler records it (every gate opened first); what serve() ended with."""
        for gate in (*self.gates.values(), self.engine_gate):
            gate.open()
        if self.thread is not None and self.thread.is_alive():
            self.daemon.request_stop()
            self.thread.join(TIMEOUT)
            assert not self.thread.is_alive()
        return self.outcome

    def reload(self, cameras: tuple[str, ...], settings: dict[str, str] | None = None, wait: bool = True) -> None:
        """Rewrite the config with these cameras (``settings``: a camera's own keys, YAML flow items), SIGHUP,
        and (``wait``) wait until the pipeline runs exactly them."""
        entries = {
            c: f"{{source: {{uri: '{self.image}'}}, {settings[c]}}}" if c in (settings or {}) else str(self.image)
            for c in cameras
        }
        write_config(self.path, self.path.with_suffix(".jsonl"), entries, extra=GATED_EXTRA)
        self.daemon.inbox.record(signal.SIGHUP)
        if wait:
            wait_until(lambda: self.daemon.app.pipeline.cameras == cameras, timeout=TIMEOUT, what=f"cameras {cameras}")

    @property
    def stats(self) -> RunStats:
        return self.daemon.app.stats

    def healthz(self) -> tuple[int, dict[str, Any]]:
        return healthz_body(self.daemon.probe())

    def reasons(self) -> list[str]:
        return self.healthz()[1]["reasons"]

    def wait(self, predicate: Callable[[], object], what: str) -> None:
        """:func:`wait_until`, failing at once if the daemon ended meanwhile."""

        def met() -> object:
            assert self.thread is None or self.thread.is_alive(), f"the daemon ended: {self.outcome}"
            return predicate()

        wait_until(met, timeout=TIMEOUT, what=what)

    def wait_frames(self, camera: str, n: int) -> None:
        start = self.stats.camera(camera).processed
        self.wait(lambda: self.stats.camera(camera).processed >= start + n, f"{n} more frames of camera {camera}")

    def stall(self, camera: str) -> None:
        """Close the camera's gate and wait until every frame it captured has been dealt with."""
        gate = self.gates[camera]
        gate.close()
        wait_until(gate.blocked.is_set, timeout=TIMEOUT, what=f"camera {camera}'s read to block")
        self.drain(camera)

    def drain(self, camera: str) -> None:
        """Wait until every frame the camera captured has been processed or skipped (it captures no more)."""
        figures = self.stats.camera(camera)
        self.wait(
            lambda: figures.captured == figures.processed + figures.skipped + figures.failed,
            f"camera {camera}'s last frame to be processed",
        )

    def wait_ticks(self, n: int) -> list[bool]:
        """The next ``n`` ticks of the daemon's main loop: whether each pinged the watchdog."""
        start = len(self.daemon.ticks)
        wait_until(lambda: len(self.daemon.ticks) >= start + n, timeout=TIMEOUT, what=f"{n} ticks")
        return self.daemon.ticks[start : start + n]

    def get(self, path: str) -> tuple[int, str]:
        server = self.daemon.health_server
        assert server is not None
        host, port = server.address
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


GATED_EXTRA = "service: {health: {enabled: true, port: 0}}\n"


@pytest.fixture
def gated(tmp_path: Path, squat_path: Path, squat_rgb: np.ndarray) -> Iterator[GatedService]:
    """Two live cameras, a and b, on the real model, under a daemon with a watchdog and /healthz, /metrics."""
    path = tmp_path / "edgepose.yaml"
    write_config(path, path.with_suffix(".jsonl"), {"a": str(squat_path), "b": str(squat_path)}, extra=GATED_EXTRA)
    clock, gates, cameras = FakeClock(), {"a": Gate(), "b": Gate()}, {}

    overrides = [f"source.stall_timeout={STALL_S}"]  # a test may add to them before a reload

    def load() -> Config:
        return load_config(path, overrides, env={})

    retrying: set[str] = set()  # cameras opened from now on inside the real RetryingSource, as make_source does
    opened: list[GatedCamera] = []  # every source opened, in order

    def camera(config: Config, health: Health, stats: RunStats, _model_input: Any) -> Source:
        name = config.source.camera  # each camera's own config
        cameras[name] = GatedCamera(name, squat_rgb, gates.setdefault(name, Gate()), clock)
        opened.append(cameras[name])
        if name not in retrying:
            return cameras[name]
        return RetryingSource(
            cameras[name],
            health,
            config.source.stall_timeout,
            Backoff(0.02, 0.05),
            stats,
            clock=clock,
            component=f"camera {name}",
        )

    engine_gate = Gate()

    def model(config: Config, health: Health, stats: RunStats) -> Loaded:
        loaded = build_estimator(config, health, stats)  # the real model; every camera's estimator shares its engine
        loaded.estimator.engine = GatedEngine(loaded.estimator.engine, engine_gate)
        return loaded

    notifier = RecordingNotifier()
    app = App(load(), AppParts(model=model, source=camera, clock=clock))
    daemon = TickingDaemon(app, notifier, watchdog=WATCHDOG_S, load=load)
    service = GatedService(
        daemon, notifier, clock, gates, cameras, path, squat_path, overrides, engine_gate, retrying, opened
    )
    service.serve()
    try:
        wait_until(lambda: notifier.seen("READY=1") or not service.thread.is_alive(), timeout=TIMEOUT, what="READY=1")
        assert service.thread.is_alive(), service.outcome
        service.wait_frames("a", FRAMES)
        service.wait_frames("b", FRAMES)
        yield service
    finally:
        outcome = service.stop()
    assert outcome == [0]


def test_one_camera_stalled_is_unhealthy_by_name_while_the_watchdog_pings(gated):
    assert gated.healthz() == (200, {"status": "ok", "reasons": []})
    assert all(gated.wait_ticks(3)), "the watchdog did not ping while both cameras ran"
    assert gated.stats.people == 2  # one person in each camera's view
    quiet: list[str] = []
    sink = gated.daemon.app.sinks[0]
    write = sink.write

    def told(output: Output) -> None:  # what the sinks are told
        if isinstance(output, CameraQuiet):
            quiet.append(output.camera)
        write(output)

    sink.write = told  # type: ignore[method-assign]

    gated.stall("a")
    gated.clock.advance(2 * STALL_S)  # a has given nothing for longer than source.stall_timeout; b goes on
    stalled = f"camera a: no frame from the camera for {2 * STALL_S:.1f} s"
    wait_until(lambda: gated.reasons() == [stalled], timeout=TIMEOUT, what="camera a alone to be unhealthy")
    assert all(gated.wait_ticks(4)), "one camera stalled stopped the watchdog while the other made progress"
    gated.wait_frames("b", FRAMES)
    # A camera that gives nothing sees nobody: its last count leaves the device's total, said once.
    # (b may be told too, for a tick, if it had not put a frame at the jumped time yet: a camera's next
    # frame counts again, so what is asserted is where the counts end up, and that a is told once.)
    assert gated.stats.camera("a").people == 0 and gated.stats.people == 1
    assert quiet.count("a") == 1

    code, body = gated.get("/healthz")  # strict: a camera down is a 503 naming it
    assert code == 503 and json.loads(body) == {"status": "unhealthy", "reasons": [stalled]}
    assert any("camera a: no frame from the camera" in s for s in gated.notifier.statuses())

    gated.gates["a"].open()  # frames again: healthy again
    wait_until(lambda: gated.healthz()[0] == 200, timeout=TIMEOUT, what="camera a to recover")
    gated.wait_frames("a", FRAMES)
    gated.wait_frames("b", 1)  # the device's total is summed at a frame
    assert gated.stats.people == 2 and quiet.count("a") == 1


def test_a_stalled_camera_is_logged_unhealthy_once_not_on_every_tick(gated, caplog):
    """Health logs a state change once (health.py). A camera stalled for longer and longer is one change:
    one warning, not one each tick because the time in its reason moved on (in production the rate
    limiter would then also hide other components' warnings, which share that message's template)."""
    caplog.set_level(logging.WARNING, logger="edgepose.health")
    gated.stall("a")
    gated.clock.advance(2 * STALL_S)
    gated.wait(lambda: [r.split(":")[0] for r in gated.reasons()] == ["camera a"], "camera a unhealthy")
    for _ in range(3):  # longer and longer, a tick or two each time
        gated.clock.advance(STALL_S / 4)  # less than the watchdog interval: b stays fine throughout
        gated.wait_ticks(2)
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("camera a is unhealthy")]
    assert len(warnings) == 1, warnings


def test_every_camera_stalled_stops_the_watchdog(gated):
    gated.stall("a")
    gated.stall("b")
    gated.clock.advance(2 * STALL_S)  # longer than the watchdog interval and the stall timeout
    wait_until(
        lambda: any(r.startswith("pipeline: ") for r in gated.reasons()),
        timeout=TIMEOUT,
        what="the pipeline to be unhealthy",
    )
    assert not any(gated.wait_ticks(4)), "the watchdog pinged with no camera making progress"
    reasons = gated.reasons()
    assert f"pipeline: no frame processed for more than {STALL_S:g} s" in reasons
    assert {r.split(":")[0] for r in reasons} == {"camera a", "camera b", "pipeline"}

    for gate in gated.gates.values():
        gate.open()
    wait_until(lambda: gated.healthz()[0] == 200, timeout=TIMEOUT, what="the cameras to recover")
    assert all(gated.wait_ticks(3)), "the pings did not resume with frames flowing again"


def test_a_hung_engine_stops_the_watchdog_and_every_camera_says_its_frames_wait(gated):
    """The one engine hangs (the inference thread is stuck in invoke): no camera progresses, so the pings
    stop, and each camera says frames arrive but none is processed (the engine, not the camera)."""
    gated.engine_gate.close()
    gated.wait(gated.engine_gate.blocked.is_set, "an invoke to hang")
    for _ in range(4):  # in steps shorter than the stall timeout, each camera putting a frame after each
        gated.clock.advance(STALL_S / 2)  # (as a live camera does: one jump would look like no frame at all)
        gated.wait(
            lambda: all(p.last_put == gated.clock() for p in gated.daemon.app.pipeline.progress().values()),
            "a frame of each camera at the new time",
        )
    gated.wait(
        lambda: {r.split(":")[0] for r in gated.reasons()} == {"camera a", "camera b", "pipeline"},
        "every camera and the pipeline unhealthy",
    )
    assert not any(gated.wait_ticks(4)), "the watchdog pinged while the engine hung"
    reasons = gated.reasons()
    assert f"pipeline: no frame processed for more than {STALL_S:g} s" in reasons
    for name in "ab":  # capture goes on at the frozen time: the frames are there, not taken
        assert f"camera {name}: frames arrive but none processed for {2 * STALL_S:.1f} s" in reasons
    assert gated.stats.people == 2  # the cameras did not stop: what they last saw still counts

    gated.engine_gate.open()
    gated.wait(lambda: gated.healthz()[0] == 200, "healthy again")
    assert all(gated.wait_ticks(3))


def test_a_cameras_reason_follows_its_cause(gated):
    """The daemon's own reason for a camera is updated when the cause changes: the camera stops (no
    frame from it), then its frames come back while the engine hangs (they arrive, none processed)."""
    gated.gates["a"].close()
    gated.wait(gated.gates["a"].blocked.is_set, "camera a's read to block")
    gated.engine_gate.close()
    gated.wait(gated.engine_gate.blocked.is_set, "an invoke to hang")
    gated.clock.advance(2 * STALL_S)
    gated.wait(
        lambda: f"camera a: no frame from the camera for {2 * STALL_S:.1f} s" in gated.reasons(), "camera a: no frame"
    )
    gated.gates["a"].open()  # frames again, at the frozen time: they wait for the hung engine
    gated.wait(
        lambda: f"camera a: frames arrive but none processed for {2 * STALL_S:.1f} s" in gated.reasons(),
        "camera a: frames arrive, none processed",
    )
    gated.engine_gate.open()
    gated.wait(lambda: gated.healthz()[0] == 200, "healthy again")


def test_a_camera_added_by_a_reload_is_starting_then_unhealthy_and_never_feeds_the_watchdog(gated):
    """A camera that joins and gives nothing is neither healthy nor unhealthy for source.stall_timeout (it
    is starting), then unhealthy by name; it never keeps the watchdog fed while the others are stalled."""
    gated.gates["c"] = Gate()
    gated.gates["c"].close()  # c's first read blocks: a camera that never delivers
    gated.reload(("a", "b", "c"))
    assert all(gated.wait_ticks(3)) and gated.healthz()[0] == 200  # starting: not a reason to report

    gated.clock.advance(2 * STALL_S)
    stalled = f"camera c: no frame from the camera for {2 * STALL_S:.1f} s"
    wait_until(lambda: gated.reasons() == [stalled], timeout=TIMEOUT, what="camera c alone to be unhealthy")
    assert all(gated.wait_ticks(3)), "a camera added and stalled stopped the pings while a and b ran"

    gated.stall("a")
    gated.stall("b")
    gated.clock.advance(2 * STALL_S)
    wait_until(
        lambda: any(r.startswith("pipeline: ") for r in gated.reasons()),
        timeout=TIMEOUT,
        what="the pipeline to be unhealthy",
    )
    assert not any(gated.wait_ticks(4))


def test_removing_a_stalled_camera_closes_it_and_the_daemon_is_healthy_again(gated):
    gated.stall("a")
    gated.clock.advance(2 * STALL_S)
    wait_until(
        lambda: gated.reasons() == [f"camera a: no frame from the camera for {2 * STALL_S:.1f} s"],
        timeout=TIMEOUT,
        what="camera a unhealthy",
    )
    stalled = gated.cameras["a"]

    gated.reload(("b",))  # its read is still blocked: the removal interrupts it
    wait_until(lambda: stalled.closed, timeout=TIMEOUT, what="camera a's source to close")
    wait_until(
        lambda: gated.healthz() == (200, {"status": "ok", "reasons": []}),
        timeout=TIMEOUT,
        what="healthy without camera a",
    )
    assert "camera a" not in gated.daemon.app.health.components()
    assert set(gated.daemon.probe().cameras) == {"b"}
    assert all(gated.wait_ticks(3))
    gated.wait_frames("b", FRAMES)


def test_a_camera_that_fails_for_good_is_unhealthy_while_the_others_go_on_and_stop_cleanly(gated):
    """A camera whose source fails for good (not a frame error: the source is gone) ends alone: health
    names it and why, the watchdog goes on for the other, and a stop is still a clean one (exit 0)."""
    gated.cameras["a"].error = InputError("camera a unplugged")
    wait_until(
        lambda: gated.reasons() == ["camera a: source failed: camera a unplugged"],
        timeout=TIMEOUT,
        what="camera a reported failed",
    )
    assert all(gated.wait_ticks(3))
    gated.wait_frames("b", FRAMES)
    assert gated.daemon.app.pipeline.cameras == ("a", "b")  # still configured: it is not dropped silently
    assert gated.stop() == [0], "a stop with one camera failed long before was not a clean stop"


def test_a_reload_of_the_shared_slot_size_reaches_every_camera(gated):
    """``source.slot_size`` with cameras is applied live (plan_reload: every camera's source changed, so
    each is restarted): the restarted cameras' slots must then hold that many frames."""
    before = {name: gated.cameras[name] for name in ("a", "b")}
    gated.overrides.append("source.slot_size=3")
    gated.reload(("a", "b"))
    gated.wait(
        lambda: all(
            gated.cameras[n] is not before[n] and gated.daemon.app.pipeline.lane(n) is not None for n in before
        ),
        "both cameras restarted",
    )
    gated.wait_frames("a", FRAMES)
    gated.wait_frames("b", FRAMES)
    pipeline = gated.daemon.app.pipeline
    assert {n: pipeline.lane(n).slot.capacity for n in before} == {"a": 3, "b": 3}


def test_a_cameras_fps_cap_set_by_a_reload_paces_it_on_the_daemons_clock(gated):
    """``cameras.a.fps_cap: 2`` by a reload restarts camera a alone; from then on a is taken once each half
    second of the (injected) clock however fast it delivers, the frames between are skipped, and b gets
    the rest of the engine."""
    first = gated.cameras["a"]
    gated.reload(("a", "b"), {"a": "fps_cap: 2"})
    gated.wait(
        lambda: gated.cameras["a"] is not first and gated.daemon.app.pipeline.lane("a") is not None,
        "camera a restarted",
    )
    pipeline = gated.daemon.app.pipeline
    assert (pipeline.lane("a").fps_cap, pipeline.lane("b").fps_cap) == (2.0, None)
    a = gated.stats.camera("a")  # the restarted camera's own figures, from 0
    gated.wait(lambda: a.processed >= 1, "the restarted camera's first frame")
    for _ in range(3):
        taken, skipped = a.processed, a.skipped
        gated.wait(lambda: a.skipped > skipped, "camera a's frames replaced while it is not due")  # noqa: B023
        gated.clock.advance(0.5)
        gated.wait(lambda: a.processed > taken, "camera a's one frame of this half second")  # noqa: B023
        gated.wait_frames("b", 2 * FRAMES)  # plenty of chances for a to be taken again: it is not due
        assert a.processed == taken + 1
    assert gated.healthz()[0] == 200


def test_a_retrying_camera_says_why_it_is_down_and_the_daemon_keeps_that_news(gated):
    """A live camera inside the real RetryingSource whose reads fail (unplugged): the source retries on its
    own and reports ``camera c`` with the error; the daemon's per-camera verdict must not replace that more
    specific news with its own on every tick (daemon.assess_cameras: "the more specific news wins")."""
    gated.retrying.add("c")
    gated.reload(("a", "b", "c"))
    gated.wait_frames("c", FRAMES)
    gated.cameras["c"].error = OSError("camera c unplugged")
    gated.wait(lambda: gated.stats.camera("c").source_retries >= 1, "camera c's first retry")
    gated.drain("c")
    gated.clock.advance(2 * STALL_S)
    gated.wait(lambda: any("camera c unplugged" in r for r in gated.reasons()), "camera c's own news")
    seen = set()
    for _ in range(6):
        gated.wait_ticks(1)
        seen.update(r for r in gated.reasons() if r.startswith("camera c: "))
    assert all("camera c unplugged" in r for r in seen), seen
    assert all(gated.wait_ticks(3)), "camera c's trouble stopped the watchdog while a and b ran"

    gated.cameras["c"].error = None  # plugged in again: reopened by its retries, frames again
    gated.wait(lambda: gated.healthz()[0] == 200, "camera c back")
    gated.wait_frames("c", FRAMES)


def test_a_second_reload_while_a_camera_is_still_restarting_ends_with_the_last_config(gated):
    """Camera a's restart waits for its capture thread (its read is stuck until the gate opens) and a second
    reload changes it again meanwhile. Once everything settled: one camera a, with the last settings, its
    figures reported, and every source opened for it but the running one closed."""
    old, old_gate = gated.cameras["a"], gated.gates["a"]
    old.stuck = True
    old_gate.close()
    gated.wait(old_gate.blocked.is_set, "camera a's read to be stuck")
    gated.gates["a"] = Gate()  # the sources opened from now on run
    gated.reload(("a", "b"), {"a": "fps_cap: 2"}, wait=False)
    gated.wait(lambda: gated.daemon.app.pipeline.lane("a") is None, "camera a out for its restart")
    gated.reload(("a", "b"), {"a": "fps_cap: 4"}, wait=False)
    gated.wait(lambda: gated.daemon.config.cameras["a"].fps_cap == 4, "the second reload applied")
    old_gate.open()  # only now the first restart's capture thread ends and its reopen runs
    gated.wait(lambda: old.closed, "the old source closed")
    for _ in range(3):  # capped: one frame of a each step of the clock (a quarter second is its period)
        gated.clock.advance(0.25)
        gated.wait_ticks(2)  # the restart threads have long finished their work (they wait for nothing now)
        gated.wait_frames("b", FRAMES)
    lane = gated.daemon.app.pipeline.lane("a")
    gated.wait(lambda: lane is not None and lane.stats.processed >= 1, "camera a running")

    pipeline, app = gated.daemon.app.pipeline, gated.daemon.app
    assert pipeline.lane("a") is lane and pipeline.cameras == ("b", "a") and lane.fps_cap == 4.0
    assert app.stats.cameras.get("a") is lane.stats, "the running camera's figures were dropped"
    assert app.sources["a"] is lane.source
    opened = [c for c in gated.opened if c.name == "a"]
    assert [c for c in opened if not c.closed] == [lane.source], "a source opened for camera a was left open"
    assert gated.healthz()[0] == 200 and "a" in gated.daemon.probe().cameras


def test_a_camera_removed_while_it_restarts_stays_closed(gated):
    """Camera a's restart waits for its capture thread (its read is stuck); a second reload removes a
    meanwhile. Once the read returns, a does not come back: its sources are closed, no figures, no health."""
    old, old_gate = gated.cameras["a"], gated.gates["a"]
    old.stuck = True
    old_gate.close()
    gated.wait(old_gate.blocked.is_set, "camera a's read to be stuck")
    gated.gates["a"] = Gate()
    gated.reload(("a", "b"), {"a": "fps_cap: 2"}, wait=False)
    gated.wait(lambda: gated.daemon.app.pipeline.lane("a") is None, "camera a out for its restart")
    gated.reload(("b",), wait=False)
    gated.wait(lambda: set(gated.daemon.config.cameras) == {"b"}, "the second reload applied")
    old_gate.open()
    gated.wait(lambda: old.closed, "the old source closed")
    gated.wait(lambda: "camera a" not in gated.daemon.app.health.components(), "camera a's health gone")
    for _ in range(2):
        gated.wait_ticks(2)  # the restart thread has long finished (it waits for nothing now)
        gated.wait_frames("b", FRAMES)

    app = gated.daemon.app
    assert app.pipeline.cameras == ("b",)
    assert all(c.closed for c in gated.opened if c.name == "a")
    assert "a" not in app.sources and "a" not in app.stats.cameras
    assert set(gated.daemon.probe().cameras) == {"b"} and gated.healthz()[0] == 200
    assert all(gated.wait_ticks(2))


# -- 4. /metrics end to end -------------------------------------------------------------------------


def test_metrics_count_each_camera_and_the_cameras_add_up_to_the_total(gated):
    gated.stall("a")  # both stopped: the figures stand still while they are read
    gated.stall("b")
    code, text = gated.get("/metrics")
    assert code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    a = samples[("edgepose_camera_frames_processed_total", (("camera", "a"),))]
    b = samples[("edgepose_camera_frames_processed_total", (("camera", "b"),))]
    total = samples[("edgepose_frames_processed_total", ())]
    assert a >= FRAMES and b >= FRAMES
    assert a + b == total == gated.stats.processed
    for name in ("captured", "skipped"):
        per_camera = [samples[(f"edgepose_camera_frames_{name}_total", (("camera", c),))] for c in "ab"]
        assert sum(per_camera) == samples[(f"edgepose_frames_{name}_total", ())]
    assert samples[("edgepose_camera_people", (("camera", "a"),))] == 1  # squat.bmp: one person
    assert not any(labels and dict(labels).get("camera") not in (None, "a", "b") for _, labels in samples)


# -- 5. the reload plan with cameras ---------------------------------------------------------------

A, B, C = "a.mp4", "b.mp4", "c.mp4"


def cameras_config(tmp_path: Path, cameras: dict[str, str] | None, extra: str = "") -> Config:
    """A config with these cameras (None: the single source form, from the first camera's uri)."""
    path = tmp_path / "plan.yaml"
    write_config(path, tmp_path / "poses.jsonl", cameras, extra, uri=A)
    return load_config(path, [], env={})


@pytest.mark.parametrize(
    ("before", "after", "applied"),
    [
        ({"a": A, "b": B}, {"a": A, "b": B, "c": C}, ("cameras.c",)),  # added
        ({"a": A, "b": B, "c": C}, {"a": A, "b": B}, ("cameras.c",)),  # removed
        ({"a": A, "b": B}, {"a": A, "b": C}, ("cameras.b.source.uri",)),  # one camera's source
        ({"a": A, "b": B}, {"b": B, "a": A}, ()),  # the same cameras in another order
    ],
)
def test_plan_reload_with_cameras_before_and_after_applies_them_live(tmp_path, before, after, applied):
    old, new = cameras_config(tmp_path, before), cameras_config(tmp_path, after)
    plan = plan_reload(old, new)
    assert (plan.applied, plan.restart) == (applied, ())
    assert plan.config == new


@pytest.mark.parametrize(
    ("extra", "applied"),
    [
        ("  b: {source: {uri: b.mp4}, fps_cap: 5}\n", ("cameras.b.fps_cap",)),
        ("  b: {source: {uri: b.mp4}, decoder: {min_pose_score: 0.5}}\n", ("cameras.b.decoder.min_pose_score",)),
        ("  b: {source: {uri: b.mp4}, tracking: {tracker: bbox}}\n", ("cameras.b.tracking.tracker",)),
    ],
)
def test_plan_reload_applies_one_cameras_own_settings_live(tmp_path, extra, applied):
    old = cameras_config(tmp_path, {"a": A, "b": B})
    new = cameras_config(tmp_path, {"a": A}, extra)
    plan = plan_reload(old, new)
    assert (plan.applied, plan.restart) == (applied, ())
    assert plan.config == new


def test_plan_reload_applies_the_shared_source_live_through_every_camera(tmp_path):
    old = cameras_config(tmp_path, {"a": A, "b": B})
    new = load_config(tmp_path / "plan.yaml", ["source.stall_timeout=3"], env={})
    plan = plan_reload(old, new)
    assert (
        set(plan.applied)
        == {"source.stall_timeout", "cameras.a.source.stall_timeout", "cameras.b.source.stall_timeout"}
        and plan.restart == ()
    )
    assert plan.config == new


def test_plan_reload_with_cameras_keeps_the_start_only_decoder_keys_for_a_restart(tmp_path):
    """``decoder.numba_cache_dir`` is read at start only; each camera's decoder holds a copy of it (the
    shared decoder keys), which must not be reported applied while the top-level one waits."""
    old = cameras_config(tmp_path, {"a": A, "b": B})
    new = load_config(tmp_path / "plan.yaml", ["decoder.numba_cache_dir=/tmp/elsewhere"], env={})
    plan = plan_reload(old, new)
    assert plan.applied == ()
    assert "decoder.numba_cache_dir" in plan.restart
    assert plan.config == old


def test_plan_reload_with_cameras_still_restarts_for_the_model(tmp_path):
    old = cameras_config(tmp_path, {"a": A, "b": B})
    cameras_config(tmp_path, {"a": A, "b": B, "c": C})
    new = load_config(tmp_path / "plan.yaml", ["model.threads=2"], env={})
    plan = plan_reload(old, new)
    assert (plan.applied, plan.restart) == (("cameras.c",), ("model.threads",))
    assert changed_keys(plan.config, new) == ("model.threads",)


@pytest.mark.parametrize("direction", ["to cameras", "from cameras"])
def test_plan_reload_between_one_source_and_cameras_needs_a_restart(tmp_path, direction):
    single, several = cameras_config(tmp_path, None), cameras_config(tmp_path, {"a": A, "b": B})
    old, new = (single, several) if direction == "to cameras" else (several, single)
    plan = plan_reload(old, new)
    assert plan.applied == ()
    assert set(plan.restart) >= {"cameras.a", "cameras.b"}
    assert all(key.startswith(("cameras.", "source.")) for key in plan.restart)
    assert plan.config == old  # nothing of it in effect until the restart


def test_plan_reload_before_the_pipeline_runs_defers_the_cameras(tmp_path):
    """Still starting (no pipeline to add a camera to): the cameras wait for a restart."""
    old = cameras_config(tmp_path, {"a": A, "b": B})
    new = cameras_config(tmp_path, {"a": A, "b": B, "c": C})
    plan = plan_reload(old, new, can_analyze=False)
    assert (plan.applied, plan.restart) == ((), ("cameras.c",))
    assert plan.config == old
