"""The live preview: real HTTP against the server, the daemon's page in headless Chromium."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.config.sections import Config, PreviewConfig
from edgepose.frame import Frame
from edgepose.pose import FrameResult, Pose
from edgepose.preview import LatestFrame, PreviewServer, is_local_client
from edgepose.stats import RunStats
from edgepose.viz import color_for
from tests.builders.cli import end_child
from tests.builders.paths import ROOT
from tests.mosquitto import free_port

CHROMIUM = "/usr/bin/chromium"


def own_non_loopback_address() -> str | None:
    """One of this machine's own non-loopback IPv4 addresses (``hostname -I``), if it has one."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out.split() if "." in a and not a.startswith("127.")), None)


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),  # all of 127/8 is loopback
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4 loopback seen through a dual-stack socket
        ("192.168.1.20", False),  # a LAN client
        ("::ffff:10.0.0.3", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_only_loopback_clients_are_local(address: str, local: bool) -> None:
    assert is_local_client(address) is local


def result_for(frame: Frame, x: float = 40.0, y: float = 30.0) -> FrameResult:
    kp = np.tile(np.float32([x, y, 0.9]), (17, 1))
    kp[:, 0] += np.arange(17) * 3
    pose = Pose(kp, 0.9, (x, y, x + 48, y + 1), id=2)
    return FrameResult(frame.index, frame.ts, frame.mono, frame.width, frame.height, frame.camera, (pose,))


def test_rate_limit_keeps_only_the_newest_frame() -> None:
    now = [0.0]
    frames = LatestFrame(max_fps=5, clock=lambda: now[0])
    image = np.zeros((60, 80, 3), np.uint8)
    for i in range(10):  # 10 frames within 0.09 s: only the first is taken at 5 fps
        now[0] = i * 0.01
        frame = Frame(image, i, 0.0, now[0])
        frames.offer(frame, result_for(frame), {"frame": i})
    assert (frames.offered, frames.skipped) == (10, 9)
    assert frames.document() == {"frame": 9}  # the stats side always has the last document
    now[0] = 0.2
    frame = Frame(image, 10, 0.0, 0.2)
    frames.offer(frame, result_for(frame), {"frame": 10})
    assert frames.skipped == 9


def get(host: str, port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


@pytest.fixture
def server() -> Iterator[PreviewServer]:
    """A preview on all addresses (so a non-loopback connection can reach it) with the default filter."""
    stats = RunStats(started_mono=time.monotonic())
    preview = PreviewServer(PreviewConfig(enabled=True, host="0.0.0.0", port=free_port(), max_fps=50), stats)
    preview.start()
    yield preview
    preview.stop()


def wait_for_frame(preview: PreviewServer, seq: int = 0) -> None:
    got, _ = preview.frames.wait_newer(seq, timeout=5)
    assert got > seq, "the encoder produced no JPEG"


def test_serves_the_overlay_stats_and_document(server: PreviewServer) -> None:
    frame = Frame(np.full((120, 160, 3), 200, np.uint8), 7, 1.0, time.monotonic())
    server.hook(frame, result_for(frame), {"frame": 7, "poses": []})
    wait_for_frame(server)
    status, ctype, body = get("127.0.0.1", server.port, "/frame.jpg")
    assert (status, ctype) == (200, "image/jpeg")
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert rgb.shape == (120, 160, 3)
    assert np.abs(rgb[30, 40].astype(int) - color_for(2)).max() < 40  # keypoint drawn (JPEG is lossy)
    assert np.abs(rgb[100, 140].astype(int) - 200).max() < 10  # far from the pose: the frame itself
    status, ctype, body = get("127.0.0.1", server.port, "/status.json")
    data = json.loads(body)
    assert data["document"] == {"frame": 7, "poses": []}
    assert "processed_fps" in data["stats"] and data["preview"]["encoded"] == 1
    status, ctype, body = get("127.0.0.1", server.port, "/")
    assert status == 200 and b'id="s-processed_fps"' in body and b'src="/frame.jpg"' in body
    assert get("127.0.0.1", server.port, "/nothing")[0] == 404


def test_mjpeg_stream_sends_new_frames(server: PreviewServer) -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/stream.mjpg")
    resp = conn.getresponse()
    assert resp.getheader("Content-Type").startswith("multipart/x-mixed-replace; boundary=")
    for i in range(2):
        time.sleep(0.05)  # beyond 1/max_fps, so each frame is taken
        frame = Frame(image, i, 0.0, time.monotonic())
        server.hook(frame, result_for(frame, 10, 10), {"frame": i})
        assert resp.readline().startswith(b"--")
        headers = dict(resp.readline().decode().strip().split(": ", 1) for _ in range(2))
        assert headers["Content-Type"] == "image/jpeg"
        resp.readline()
        jpeg = resp.read(int(headers["Content-Length"]))
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
        resp.readline()
    conn.close()


def test_refuses_clients_from_other_addresses(server: PreviewServer) -> None:
    address = own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    status, _, body = get(address, server.port, "/")  # source address = this non-loopback address
    assert status == 403 and b"local clients only" in body
    assert get(address, server.port, "/frame.jpg")[0] == 403
    assert server.refused == 2
    assert get("127.0.0.1", server.port, "/status.json")[0] == 200


def test_allow_remote_answers_other_addresses() -> None:
    address = own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to connect from")
    preview = PreviewServer(PreviewConfig(host="0.0.0.0", port=free_port(), allow_remote=True), RunStats())
    preview.start()
    try:
        assert get(address, preview.port, "/status.json")[0] == 200
    finally:
        preview.stop()


def test_off_by_default_and_localhost_bound() -> None:
    preview = Config().service.preview
    assert (preview.enabled, preview.host, preview.allow_remote) == (False, "127.0.0.1", False)


def test_port_in_use_is_a_clear_error() -> None:
    from edgepose.errors import UnavailableError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        preview = PreviewServer(PreviewConfig(port=s.getsockname()[1]), RunStats())
        with pytest.raises(UnavailableError, match=r"cannot listen on 127\.0\.0\.1"):
            preview.start()


def chromium(*args: str, url: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,800",
            "--virtual-time-budget=3000",
            *args,
            url,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def daemon_with_preview(shared: Path) -> Iterator[int]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "edgepose",
        "run",
        "--source",
        str(shared / "images" / "posenet_test_image.bmp"),
        "--sink",
        "jsonl:/dev/null",
        "--threads",
        "1",
        "--set",
        "source.loop=true",
        "--set",
        "service.preview.enabled=true",
        "--set",
        f"service.preview.port={port}",
    ]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get("127.0.0.1", port, "/frame.jpg")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"the daemon exited: {proc.stderr.read().decode()}")
            time.sleep(0.2)
        else:
            pytest.fail("the preview served no frame within 30 s")
        yield port
    finally:
        end_child(proc)


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")
def test_page_in_a_real_browser(daemon_with_preview: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{daemon_with_preview}/"
    shot = tmp_path / "preview.png"
    proc = chromium(f"--screenshot={shot}", url=url)
    assert shot.is_file(), proc.stderr[-2000:]
    kept = os.environ.get("EDGEPOSE_KEEP_SCREENSHOT")  # set to a path to look at the page yourself
    if kept:
        shutil.copy(shot, kept)
    dom = chromium("--dump-dom", url=url).stdout
    # The stats the page rendered, as the browser has them after running its script.
    for key in ("processed_fps", "inference_ms_p50", "processed", "people"):
        cell = dom.split(f'id="s-{key}">', 1)[1].split("<", 1)[0]
        assert cell != "-" and float(cell) > 0, (key, cell)
    assert '"schema": "edgepose.poses/1"' in dom  # the last document
    assert 'id="state">live<' in dom  # the script reached /status.json
    # The screenshot shows the frame: the image area is the photo (snowy, bright), not the dark page.
    page = cv2.imread(str(shot))
    assert page.shape[:2] == (800, 1280)
    photo = page[60:520, 20:650].astype(float)
    background = page[600:780, 20:650].astype(float)
    assert photo.mean() > 150 and photo.std() > 20
    assert background.mean() < 50
