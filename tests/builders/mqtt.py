"""The MQTT sink's side of a test: its config for a test broker, the meta and frames it is given,
waiting until it is connected, a fake peer that is no working broker, and an analysis stage's zones
and walker whose frames go through the sink."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np

from edgepose.analysis.stage import make_analysis
from edgepose.config import Config, load_config
from edgepose.documents.output import FrameOutput
from edgepose.documents.poses import Stamp
from edgepose.keypoints import KEYPOINT_NAMES, KP, SKELETON
from edgepose.pose import FrameResult, Pose, Timing
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import output_of
from tests.mosquitto import Mosquitto

STAMP = Stamp("testpi", "movenet_single_pose_lightning_ptq", "cpu")
META = {
    "schema": "edgepose.meta/1",
    "version": "0.0.test",
    "device": "testpi",
    "camera": "cam0",
    "model": "movenet_single_pose_lightning_ptq",
    "format": "movenet_single",
    "accelerator": "cpu",
    "threads": 2,
    "input_size": [192, 192],
    "keypoints": list(KEYPOINT_NAMES),
    "skeleton": [list(e) for e in SKELETON],
}


def frame(index: int, people: int = 1, rng: np.random.Generator | None = None) -> FrameOutput:
    """A processed frame with ``people`` poses, as the pipeline hands it to the sinks."""
    rng = rng or np.random.default_rng(index)
    poses = []
    for _ in range(people):
        kp = np.column_stack([rng.uniform(0, 640, 17), rng.uniform(0, 480, 17), rng.uniform(0, 1, 17)])
        kp = kp.astype(np.float32)
        box = (float(kp[:, 0].min()), float(kp[:, 1].min()), float(kp[:, 0].max()), float(kp[:, 1].max()))
        poses.append(Pose(kp, float(rng.uniform(0.3, 1)), box))
    result = FrameResult(
        index, 1.7e9 + index / 30, time.monotonic(), 640, 480, "cam0", tuple(poses), Timing(1.0, 2.0, 0.5, 3.5)
    )
    return output_of(result, STAMP)


def make_config(broker: Mosquitto, *extra: str) -> Config:
    """A config for device ``testpi`` on ``broker``, reconnecting fast, plus ``extra`` overrides."""
    return load_config(
        None,
        [
            "device_id=testpi",
            "mqtt.host=127.0.0.1",
            f"mqtt.port={broker.port}",
            "mqtt.reconnect_min=0.05",
            "mqtt.reconnect_max=0.3",
            "mqtt.stats_interval=0",
            "mqtt.qos_poses=1",
            *extra,
        ],
    )


def open_sink(config: Config, stats: RunStats | None = None) -> MqttSink:
    """An MQTT sink opened with :data:`META` (it connects in the background: see :func:`wait_connected`)."""
    sink = MqttSink(config, stats or RunStats())
    sink.open(META)
    return sink


def wait_connected(sink: MqttSink, timeout: float = 10.0) -> None:
    """Until the sink is connected and its subscriptions are granted (a command sent next arrives)."""
    deadline = time.monotonic() + timeout
    while not sink.listening:
        if time.monotonic() > deadline:
            raise AssertionError("the sink did not connect (or its subscriptions were not granted)")
        time.sleep(0.02)


HTTP_400 = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 90\r\nConnection: close\r\n\r\n"
    b"<html><head><title>400 Bad Request</title></head><body><h1>Bad Request</h1></body></html>"
)


class FakeBroker:
    """A TCP server on a free loopback port that accepts and then does ``mode``: ``close``,
    ``silent`` or ``send`` (``reply`` after reading the CONNECT, the connection kept open)."""

    def __init__(self, mode: str, reply: bytes = b"") -> None:
        self.mode, self.reply = mode, reply
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-broker", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.mode == "close":
                conn.close()
                continue
            if self.mode == "send":
                conn.settimeout(5)
                try:
                    conn.recv(4096)  # the CONNECT
                    conn.sendall(self.reply)
                except OSError:
                    pass
            self._open.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()
        for conn in self._open:
            conn.close()


# A zone over the frame's left half, entered and left at once.
LEFT = "{name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], enter_after: 0, leave_after: 0}"


def analysis_config(broker: Mosquitto, *zones: str, ha: bool = True) -> Config:
    """:func:`make_config` with the analysis stage on, ``zones`` and Home Assistant discovery if ``ha``."""
    return make_config(
        broker,
        "analysis.enabled=true",
        f"analysis.zones=[{', '.join(zones)}]",
        f"mqtt.homeassistant.enabled={'true' if ha else 'false'}",
    )


def walker(x: float, track_id: int) -> Pose:
    """A person whose ankles stand at ``(x, 400)`` in a 640x480 frame (only ankles and hips seen)."""
    kp = np.zeros((17, 3), np.float32)
    for name, dy in (("left_ankle", 0), ("right_ankle", 0), ("left_hip", -100), ("right_hip", -100)):
        kp[KP[name]] = (x, 400 + dy, 0.9)
    return Pose(kp, 0.9, (x - 20, 250, x + 20, 400), track_id)


def run_frames(config: Config, sink: MqttSink, xs: list[float]) -> list[dict]:
    """What the pipeline does after tracking, frame by frame: analyze, build, encode, hand to the sink."""
    stage = make_analysis(config, "cam0")
    stamp = Stamp("testpi", "test-model", "cpu")
    published = []
    for i, x in enumerate(xs):
        result = stage.apply(FrameResult(i, 1.8e9 + i, float(i), 640, 480, "cam0", (walker(x, 7),)))
        output = output_of(result, stamp)
        sink.write(output)
        published.extend(output.events)
    return published
