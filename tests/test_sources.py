"""Sources: retry/backoff/stall health, the picamera2 adapter against a stand-in, OpenCV capture, video."""

from __future__ import annotations

import http.server
import itertools
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

from edgepose.config.sections import SourceConfig
from edgepose.errors import EX_UNAVAILABLE, FrameError, UnavailableError
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Pipeline
from edgepose.sources import guess_kind, make_source
from edgepose.sources.base import Clocks, Source
from edgepose.sources.capture import OpenCvCapture
from edgepose.sources.picamera2 import CameraPool, Picamera2Source, import_picamera2, lores_size, to_rgb
from edgepose.sources.retry import Backoff, RetryingSource
from edgepose.sources.video import VideoFileSource
from edgepose.stats import RunStats
from tests.builders.cli import run_cli

# --- retry, backoff, stall ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedSource(Source):
    """Reads follow a script: 'f' a frame, 'x' a failing read (FrameError); opens can be made to fail."""

    continuous = True
    live = True
    name = "cam0"

    def __init__(self, script: str, clock: FakeClock, fail_opens: int = 0) -> None:
        self.script = list(script)
        self.clock = clock
        self.fail_opens = fail_opens
        self.opens = self.closes = self.count = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.fail_opens > 0:
            self.fail_opens -= 1
            raise OSError("No such device")

    def read(self) -> Frame:
        step = self.script.pop(0) if self.script else "x"  # after the script: dead for good
        if step == "x":
            raise FrameError("no frame (disconnected)")
        self.count += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.count, 0.0, self.clock(), self.name)

    def close(self) -> None:
        self.closes += 1


def test_source_that_fails_recovers_then_fails_for_good():
    clock = FakeClock()
    sleeps: list[float] = []
    health = Health()
    stats = RunStats()
    inner = ScriptedSource("ffxxfff", clock, fail_opens=1)
    source = RetryingSource(inner, health, stall_timeout=10.0, backoff=Backoff(0.1, 5.0), stats=stats, clock=clock)

    def sleep(seconds: float) -> None:  # drives the clock; gives up after a minute of backoff
        sleeps.append(seconds)
        clock.now += seconds
        if sum(sleeps) > 60:
            source.interrupt()

    source.sleep = sleep
    source.open()
    assert health.status().healthy
    assert [source.read().index for _ in range(2)] == [1, 2]
    # Two failed reads, then one failed reopen, then the camera is back.
    assert source.read().index == 3
    assert sleeps == [0.1, 0.2, 0.4]
    assert health.status().healthy, "3 failures in 0.7 s is not a stall"
    assert [source.read().index for _ in range(2)] == [4, 5]
    # Dead for good: backoff doubles up to the cap, health turns unhealthy after stall_timeout.
    sleeps.clear()
    assert source.read() is None  # interrupted after a minute
    assert sleeps[:7] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0] and set(sleeps[7:]) == {5.0}
    status = health.status()
    assert not status.healthy
    assert status.reasons[0].startswith("source: no frame for") and "disconnected" in status.reasons[0]
    assert stats.source_retries == source.retries == 3 + len(sleeps)
    assert inner.opens == 1 + source.retries - 1  # reopened once per retry but the one failed open
    source.close()


def test_stall_is_reported_while_a_read_is_blocked_and_clears_on_the_next_frame():
    clock = FakeClock()
    health = Health()
    source = RetryingSource(ScriptedSource("ff", clock), health, stall_timeout=2.0, clock=clock)
    source.open()
    source.read()
    clock.now += 1.0
    assert not source.check_stall() and health.status().healthy
    clock.now += 1.5
    assert source.check_stall() and not health.status().healthy  # the pipeline calls this when idle
    source.read()
    assert health.status().healthy


class DeadCamera(ScriptedSource):
    def __init__(self) -> None:
        super().__init__("", FakeClock())


def test_pipeline_stops_promptly_during_backoff_and_leaves_no_thread(loaded_movenet):
    health = Health()
    stats = RunStats()
    source = RetryingSource(DeadCamera(), health, stall_timeout=0.2, backoff=Backoff(5.0, 5.0), stats=stats)
    source.open()
    stop = threading.Event()
    pipeline = Pipeline([Lane("cam0", source, loaded_movenet.estimator)], [], _stamp(), stats)
    runner = threading.Thread(target=pipeline.run, kwargs={"stop": stop})
    runner.start()
    time.sleep(0.4)  # the source is now in a 5 s backoff; the idle pipeline notices the stall
    assert not health.status().healthy
    t0 = time.monotonic()
    stop.set()
    runner.join(3)
    assert not runner.is_alive() and time.monotonic() - t0 < 0.5
    assert [t for t in threading.enumerate() if t.name.startswith("edgepose-capture-")] == []
    assert stats.processed == 0 and stats.source_retries >= 1


def _stamp():
    from edgepose.documents.poses import Stamp

    return Stamp("test", "movenet", "cpu")


@pytest.fixture(scope="module")
def loaded_movenet():
    from edgepose.app import build_estimator
    from edgepose.config import load_config

    return build_estimator(load_config(None, ["model.name=movenet_lightning_int8", "model.threads=1"]))


# --- picamera2 adapter against a stand-in of its documented API -----------------------------


def i420_with_stride(rgb: np.ndarray, stride: int) -> np.ndarray:
    """What picamera2's make_array('lores') gives for YUV420: (h*3/2, stride), planes padded to stride."""
    h, w = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    y, u, v = yuv[: h * w], yuv[h * w : h * w * 5 // 4], yuv[h * w * 5 // 4 :]
    y_p = np.zeros((h, stride), np.uint8)
    y_p[:, :w] = y.reshape(h, w)
    u_p = np.zeros((h // 2, stride // 2), np.uint8)
    u_p[:, : w // 2] = u.reshape(h // 2, w // 2)
    v_p = np.zeros((h // 2, stride // 2), np.uint8)
    v_p[:, : w // 2] = v.reshape(h // 2, w // 2)
    return np.concatenate([y_p.reshape(-1), u_p.reshape(-1), v_p.reshape(-1)]).reshape(h * 3 // 2, stride)


def blocky_image(w: int, h: int, seed: int = 3) -> np.ndarray:
    """Colours constant over 2x2 blocks, so 4:2:0 chroma subsampling loses nothing."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 216, (h // 2, w // 2, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)


class StandInPicamera2Module:
    """A ``picamera2`` module with the documented calls edgepose uses, recording each one."""

    def __init__(self, cameras: list[dict[str, Any]] | None = None, scene: tuple[int, int] = (384, 216)) -> None:
        self.calls: list[tuple] = []
        self.instances: list[Any] = []
        self.scene = blocky_image(*scene)
        module = self

        class Request:
            def __init__(self, cam: Any) -> None:
                self.cam = cam
                self.released = False

            def make_array(self, name: str) -> np.ndarray:
                stream = self.cam.config[name]
                module.calls.append(("make_array", name))
                w, h = stream["size"]
                if stream["format"] == "YUV420":
                    return i420_with_stride(module.scene[:h, :w], stride=w + 32)
                if stream["format"] == "RGB888":  # libcamera naming: [B, G, R] in memory
                    return np.ascontiguousarray(module.scene[:h, :w, ::-1])
                raise AssertionError(stream["format"])

            def get_metadata(self) -> dict[str, Any]:
                return {"SensorTimestamp": 5_000_000_000 + 33_333_333 * self.cam.frames, "ExposureTime": 10000}

            def release(self) -> None:
                module.calls.append(("release",))

        class Picamera2:
            @staticmethod
            def global_camera_info() -> list[dict[str, Any]]:
                return cameras if cameras is not None else [{"Model": "imx708", "Num": 0}]

            def __init__(self, camera_num: int = 0) -> None:
                module.instances.append(self)
                module.calls.append(("Picamera2", camera_num))
                self.config: dict[str, Any] = {}
                self.frames = 0

            def create_video_configuration(self, main={}, lores=None, controls={}, buffer_count=6, **rest):  # noqa: B006
                module.calls.append(("create_video_configuration", main, lores, controls, buffer_count))
                return {"main": dict(main), "lores": dict(lores) if lores else None, "controls": controls}

            def configure(self, config: dict[str, Any]) -> None:
                module.calls.append(("configure",))
                self.config = {k: dict(v) for k, v in config.items() if k in ("main", "lores") and v}
                for stream in self.config.values():  # picamera2's align_stream: widths DOWN to 64 (YUV420)
                    w, h = stream["size"]
                    align = 64 if stream["format"] in ("YUV420", "YVU420") else 32
                    stream["size"] = (w - w % align, h - h % 2)

            def camera_configuration(self) -> dict[str, Any]:
                return self.config

            def start(self) -> None:
                module.calls.append(("start",))

            def capture_request(self) -> Any:
                self.frames += 1
                return Request(self)

            def stop(self) -> None:
                module.calls.append(("stop",))

            def close(self) -> None:
                module.calls.append(("close",))

        self.module = types.ModuleType("picamera2")
        self.module.Picamera2 = Picamera2


def test_lores_size_keeps_the_aspect_ratio_and_covers_the_model_input():
    assert lores_size((1280, 720), (192, 192)) == (384, 216)
    assert lores_size((1280, 720), (641, 481)) == (896, 504)
    assert lores_size((640, 480), (192, 192)) == (256, 192)
    assert lores_size((640, 480), (641, 481)) is None  # the model is bigger than main: no lores
    assert lores_size((1280, 720), None) is None


@pytest.mark.parametrize("main", [(1280, 720), (1920, 1080), (640, 480), (1536, 864), (2304, 1296)])
@pytest.mark.parametrize("model", [(192, 192), (256, 256), (641, 481), (481, 353)])
def test_lores_size_survives_picamera2s_alignment_without_changing_the_aspect_ratio(main, model):
    """picamera2 rounds a YUV420 width down to a multiple of 64; the ISP then scales the whole field of
    view into that size, so a width it changes squeezes the picture. The size asked for must be one it keeps."""
    size = lores_size(main, model)
    if size is None:
        return
    w, h = size
    assert (w % 64, h % 2) == (0, 0)
    assert w >= model[0] and h >= model[1]  # still covers the model input
    assert abs(w / h - main[0] / main[1]) <= 2 / h * (main[0] / main[1])  # aspect within the rounding of h


def test_picamera2_configures_lores_for_the_model_and_reads_it_with_the_sensor_timestamp():
    stand_in = StandInPicamera2Module()
    clocks = Clocks(wall=lambda: 1_700_000_010.0, mono=lambda: 10.0)
    pool = CameraPool()
    source = Picamera2Source("cam0", 0, (1280, 720), 30.0, (192, 192), clocks, stand_in.module, pool)
    source.open()
    kind, main, lores, controls, buffers = stand_in.calls[1]
    assert kind == "create_video_configuration"
    assert main == {"size": (1280, 720), "format": "RGB888"}
    assert lores == {"size": (384, 216), "format": "YUV420"}
    assert controls == {"FrameRate": 30.0} and buffers == 4
    assert [c[0] for c in stand_in.calls[2:]] == ["configure", "start"]
    assert source.stream.size == (384, 216)  # already a multiple of 64: picamera2's alignment changes nothing

    frame = source.read()
    assert ("make_array", "lores") in stand_in.calls and ("make_array", "main") not in stand_in.calls
    assert stand_in.calls[-1] == ("release",)  # every request goes back to libcamera
    assert (frame.width, frame.height) == (384, 216)
    np.testing.assert_allclose(frame.image.astype(int), stand_in.scene.astype(int), atol=3)  # YUV420 -> RGB
    assert frame.mono == pytest.approx(5.033333333)  # SensorTimestamp, ns -> monotonic s
    assert frame.ts == pytest.approx(1_700_000_010.0 - (10.0 - 5.033333333))
    assert source.read().mono - frame.mono == pytest.approx(1 / 30, abs=1e-6)


def test_picamera2_makes_one_object_per_process_across_reopen():
    stand_in = StandInPicamera2Module()
    pool = CameraPool()
    for _ in range(3):
        source = Picamera2Source(module=stand_in.module, pool=pool, model_input=(192, 192))
        source.open()
        source.read()
        source.close()
    assert len(stand_in.instances) == 1
    assert [c[0] for c in stand_in.calls].count("stop") == 3
    assert ("close",) not in stand_in.calls  # closing a Picamera2 and making another leaks


@pytest.mark.parametrize(
    ("connected", "number", "hint"),
    [(1, 1, "must be picamera2:0 ("), (2, 3, "must be one of picamera2:0 to picamera2:1 (")],
)
def test_picamera2_names_the_cameras_there_are_when_one_is_not_connected(connected, number, hint):
    """The hint gives the URIs that work and every place one is set (a camera map's entry included)."""
    stand_in = StandInPicamera2Module(cameras=[{"Model": "imx708", "Num": n} for n in range(connected)])
    source = Picamera2Source("garden", number, module=stand_in.module, pool=CameraPool())
    with pytest.raises(UnavailableError) as err:
        source.open()
    assert err.value.message == f"camera {number} is not connected: picamera2 lists {connected} camera(s)"
    assert hint in err.value.hint and "cameras.<name>.source.uri" in err.value.hint
    assert err.value.exit_code == EX_UNAVAILABLE and not stand_in.instances  # nothing opened


def test_picamera2_main_stream_rgb888_is_bgr_in_memory_and_converted():
    stand_in = StandInPicamera2Module(scene=(352, 192))
    source = Picamera2Source(size=(352, 192), module=stand_in.module, pool=CameraPool(), model_input=None)
    source.open()
    frame = source.read()
    assert ("make_array", "main") in stand_in.calls
    np.testing.assert_array_equal(frame.image, stand_in.scene)


@pytest.mark.parametrize(
    ("fmt", "layout"),
    [
        ("BGR888", lambda rgb: rgb),  # [R, G, B] in memory
        ("RGB888", lambda rgb: rgb[..., ::-1]),  # [B, G, R]
        ("XBGR8888", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),  # [R, G, B, A]
        ("XRGB8888", lambda rgb: np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])),  # [B, G, R, A]
    ],
)
def test_rgb_formats_are_handled_explicitly(fmt, layout):
    rgb = blocky_image(64, 32)
    np.testing.assert_array_equal(to_rgb(layout(rgb), fmt, 64, 32), rgb)


def test_yuv420_matches_opencv():
    rgb = blocky_image(96, 64, seed=9)
    array = i420_with_stride(rgb, 96)
    expected = cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420)
    assert np.abs(to_rgb(array, "YUV420", 96, 64).astype(int) - expected.astype(int)).max() <= 1


def test_picamera2_without_a_camera_is_unavailable():
    stand_in = StandInPicamera2Module(cameras=[])
    with pytest.raises(UnavailableError, match="finds no camera"):
        Picamera2Source(module=stand_in.module, pool=CameraPool()).open()


def test_missing_picamera2_is_exit_69_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as on a machine without it
    with pytest.raises(UnavailableError) as err:
        import_picamera2()
    assert err.value.exit_code == EX_UNAVAILABLE
    assert "sudo apt install python3-picamera2" in err.value.hint


def test_cli_picamera2_source_without_picamera2_exits_69():
    proc = run_cli("run", "--source", "picamera2", "--max-frames", "1", "--threads", "1")
    assert proc.returncode == EX_UNAVAILABLE, proc.stderr
    assert "picamera2" in proc.stderr and "sudo apt install python3-picamera2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_detect_camera_prefers_a_listed_pi_camera(monkeypatch):
    from edgepose import app

    monkeypatch.setitem(sys.modules, "picamera2", StandInPicamera2Module().module)
    assert app.detect_camera() == "picamera2"
    monkeypatch.setitem(sys.modules, "picamera2", StandInPicamera2Module(cameras=[]).module)
    assert app.detect_camera() == ("/dev/video0" if Path("/dev/video0").exists() else None)


# --- OpenCV capture: a real HTTP stream, a missing device -----------------------------------


class MjpegHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP camera (multipart MJPEG, like mjpg-streamer or an IP camera) that drops the
    connection after ``frames_per_connection`` frames."""

    jpegs: ClassVar[list[bytes]] = []
    frames_per_connection = 5

    def do_GET(self) -> None:
        if self.path != "/stream.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for jpeg in self.jpegs[: self.frames_per_connection]:
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
            self.wfile.write(head + jpeg + b"\r\n")
            time.sleep(0.02)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_camera(walking_video: Path):
    cap = cv2.VideoCapture(str(walking_video))
    jpegs = []
    for _ in range(5):
        _, bgr = cap.read()
        jpegs.append(cv2.imencode(".jpg", cv2.resize(bgr, (320, 180)))[1].tobytes())
    cap.release()
    handler = type("Handler", (MjpegHandler,), {"jpegs": jpegs})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_stream_that_drops_is_reopened(http_camera):
    """A real HTTP MJPEG stream through OpenCV/FFmpeg; every 5 frames the server hangs up."""
    health = Health()
    stats = RunStats()
    source = make_source(SourceConfig(retry_min=0.05), f"{http_camera}/stream.mjpg", health=health, stats=stats)
    assert isinstance(source, RetryingSource) and source.live
    guard = threading.Timer(30, source.interrupt)  # never hang the suite on a stream
    guard.start()
    source.open()
    try:
        frames = [source.read() for _ in range(12)]
    finally:
        guard.cancel()
        source.close()
    assert None not in frames
    assert [f.index for f in frames] == list(range(12))
    assert frames[0].image.shape == (180, 320, 3)
    assert stats.source_retries >= 2  # two hang-ups, each retried and reopened
    assert health.status().healthy
    assert all(a.mono <= b.mono for a, b in itertools.pairwise(frames))


def test_unreachable_stream_and_missing_device_are_unavailable(http_camera):
    with pytest.raises(UnavailableError, match="cannot open stream"):
        OpenCvCapture(f"{http_camera}/no_such_stream.mjpg", "stream").open()
    with pytest.raises(UnavailableError, match="cannot open v4l2"):
        OpenCvCapture("/dev/video97", "v4l2").open()


# --- kinds, video files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("picamera2", "picamera2"),
        ("picamera2:1", "picamera2"),  # the second Pi camera
        ("/dev/video0", "v4l2"),
        ("0", "v4l2"),  # OpenCV's device index
        ("rtsp://cam.local/stream1", "stream"),
        ("http://cam.local/video.mjpg", "stream"),
    ],
)
def test_guess_kind(uri, kind):
    assert guess_kind(uri) == kind


def test_video_realtime_is_live_and_paced(walking_video):
    source = VideoFileSource(walking_video, realtime=True)
    assert source.live
    source.open()
    t0 = time.monotonic()
    frames = [source.read() for _ in range(6)]
    source.close()
    assert time.monotonic() - t0 >= 5 / source.fps - 0.01  # paced at the file's rate
    assert not VideoFileSource(walking_video).live
    assert [f.index for f in frames] == list(range(6))


def test_looping_video_keeps_media_time_increasing(walking_video):
    source = VideoFileSource(walking_video, loop=True)
    source.open()
    source._cap.set(cv2.CAP_PROP_POS_FRAMES, 338)  # near the end of the 341 frames
    monos = [source.read().mono for _ in range(6)]
    source.close()
    np.testing.assert_allclose(np.diff(monos), 1 / source.fps, atol=1e-6)  # no jump back at the loop


def test_a_stream_decodes_dropped_frames_into_one_buffer_and_keeps_held_ones(http_camera):
    # edgepose.sources.framepool: a frame still held is never written over; dropped ones are reused.
    source = OpenCvCapture(f"{http_camera}/stream.mjpg", "stream")
    source.open()
    try:
        kept = source.read()
        before = kept.image.copy()
        seen = set()
        for _ in range(3):
            frame = source.read()
            seen.add(frame.image.__array_interface__["data"][0])
            del frame
    finally:
        source.close()
    np.testing.assert_array_equal(kept.image, before)
    assert len(seen) == 1
