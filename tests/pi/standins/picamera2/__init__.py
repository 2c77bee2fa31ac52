"""Stand-in for apt's ``python3-picamera2``, installed into the system's dist-packages of the emulated
Raspberry Pi OS root (and put on ``sys.path`` by the camera tests elsewhere).

It imports ``libcamera`` and then ``simplejpeg`` at import time, as the real package does (its
``request`` module imports simplejpeg), so each of the real import failures can be reproduced: no
package, no libcamera bindings, a simplejpeg built for another NumPy. Otherwise it follows the
documented calls edgepose makes (picamera2 manual, "Configuration" and "Capturing requests"):
``global_camera_info``, ``create_video_configuration``, ``configure`` (which aligns sizes as
picamera2 does), ``camera_configuration``, ``start``, ``capture_request`` -> ``make_array``,
``get_metadata``, ``release``, ``stop`` and ``close``.

Behaviour is chosen by environment, read when a camera is made:
- ``STANDIN_PICAMERA2=none``: no camera connected; ``busy``: another process holds it (the real
  RuntimeError chain: "Failed to acquire camera: Device or resource busy" inside "Camera __init__
  sequence did not complete.").
- ``STANDIN_PICAMERA2_SCENE=FILE.bmp``: the picture the camera sees (24-bit BMP), else a gradient.
- ``STANDIN_PICAMERA2_CAMERAS=N``: N cameras connected (a Pi 5 has two connectors), else one.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import libcamera  # noqa: F401  (the real package imports it first)
import numpy as np
import simplejpeg  # noqa: F401  (the NumPy-bound import)

__version__ = "0.3.19+standin"

CAMERA = {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a", "Num": 0}


def _mode() -> str:
    return os.environ.get("STANDIN_PICAMERA2", "")


def _connected() -> int:
    return 0 if _mode() == "none" else int(os.environ.get("STANDIN_PICAMERA2_CAMERAS", "1"))


def read_bmp(path: Path) -> np.ndarray:
    """RGB uint8 from an uncompressed 24-bit BMP (rows bottom-up unless the height is negative)."""
    data = path.read_bytes()
    offset = int.from_bytes(data[10:14], "little")
    width = int.from_bytes(data[18:22], "little", signed=True)
    height = int.from_bytes(data[22:26], "little", signed=True)
    if int.from_bytes(data[28:30], "little") != 24:
        raise ValueError(f"{path}: only 24-bit BMP is supported by the stand-in")
    row = (width * 3 + 3) // 4 * 4
    pixels = np.frombuffer(data, np.uint8, row * abs(height), offset).reshape(abs(height), row)[:, : width * 3]
    bgr = pixels.reshape(abs(height), width, 3)
    if height > 0:
        bgr = bgr[::-1]
    return np.ascontiguousarray(bgr[..., ::-1])


def _scene(width: int, height: int) -> np.ndarray:
    path = os.environ.get("STANDIN_PICAMERA2_SCENE")
    if path:
        image = read_bmp(Path(path))
        ys = np.arange(height) * image.shape[0] // height  # nearest neighbour, as a stand-in for the ISP
        xs = np.arange(width) * image.shape[1] // width
        return image[ys][:, xs]
    gy, gx = np.mgrid[0:height, 0:width]
    return np.stack([gx * 255 // max(width - 1, 1), gy * 255 // max(height - 1, 1), np.full_like(gx, 128)], -1).astype(
        np.uint8
    )


def rgb_to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """Planar I420 ``(h * 3/2, w)``, BT.601 limited range (what libcamera's YUV420 carries)."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape
    u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8).reshape(-1) for p in (y, u, v)]
    return np.concatenate(planes).reshape(h * 3 // 2, w)


def _align(stream: dict[str, Any]) -> None:
    """picamera2's ``align_stream``: widths down to a multiple of 32 (64 for YUV420), heights even."""
    fmt = stream.get("format", "")
    align = 64 if fmt in ("YUV420", "YVU420") else 16 if fmt in ("XBGR8888", "XRGB8888") else 32
    w, h = stream["size"]
    stream["size"] = (w - w % align, h - h % 2)


class CompletedRequest:
    def __init__(self, cam: Picamera2, sensor_ns: int) -> None:
        self._cam = cam
        self._sensor_ns = sensor_ns
        self._released = False

    def make_array(self, name: str) -> np.ndarray:
        if self._released:
            raise RuntimeError("request already released")
        stream = self._cam.camera_config[name]
        w, h = stream["size"]
        rgb = self._cam.scene(w, h)
        if stream["format"] == "YUV420":
            return rgb_to_yuv420(rgb)
        if stream["format"] == "RGB888":  # libcamera naming: [B, G, R] in memory
            return np.ascontiguousarray(rgb[..., ::-1])
        if stream["format"] == "BGR888":
            return rgb
        raise RuntimeError(f"stand-in: format {stream['format']} is not produced")

    def get_metadata(self) -> dict[str, Any]:
        return {"SensorTimestamp": self._sensor_ns, "ExposureTime": 10000, "FrameDuration": self._cam.frame_us}

    def release(self) -> None:
        self._released = True


class Picamera2:
    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return [{**CAMERA, "Num": n, "Id": f"{CAMERA['Id']}/{n}" if n else CAMERA["Id"]} for n in range(_connected())]

    def __init__(self, camera_num: int = 0) -> None:
        try:
            if _mode() == "busy":
                raise RuntimeError("Failed to acquire camera: Device or resource busy")
            if not 0 <= camera_num < _connected():
                raise IndexError("list index out of range")
        except Exception:
            raise RuntimeError("Camera __init__ sequence did not complete.")  # noqa: B904  (as picamera2 does)
        self.camera_num = camera_num
        self.camera_config: dict[str, Any] = {}
        self.started = False
        self.frame_us = 33333
        self._lock = threading.Lock()
        self._scenes: dict[tuple[int, int], np.ndarray] = {}
        self._next = time.monotonic_ns()

    def scene(self, width: int, height: int) -> np.ndarray:
        if (width, height) not in self._scenes:
            self._scenes[(width, height)] = _scene(width, height)
        return self._scenes[(width, height)]

    def create_video_configuration(
        self,
        main: dict | None = None,
        lores: dict | None = None,
        controls: dict | None = None,
        buffer_count: int = 6,
        **_: Any,
    ) -> dict[str, Any]:
        main = {"format": "XBGR8888", "size": (1280, 720), **(main or {})}
        return {
            "use_case": "video",
            "main": main,
            "lores": dict(lores) if lores else None,
            "controls": dict(controls or {}),
            "buffer_count": buffer_count,
        }

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
        for name in ("main", "lores"):
            if config.get(name):
                config[name]["size"] = tuple(config[name]["size"])
                _align(config[name])
        rate = config.get("controls", {}).get("FrameRate")
        self.frame_us = int(1e6 / rate) if rate else 33333
        self.camera_config = config

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    def start(self) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._next = time.monotonic_ns()

    def capture_request(self) -> CompletedRequest:
        if not self.started:
            raise RuntimeError("Camera is not started")
        with self._lock:  # frames come at the configured rate, stamped on CLOCK_MONOTONIC like SensorTimestamp
            wait = (self._next - time.monotonic_ns()) / 1e9
            if wait > 0:
                time.sleep(wait)
            stamp = self._next = max(self._next, time.monotonic_ns()) + self.frame_us * 1000
        return CompletedRequest(self, stamp)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.started = False
