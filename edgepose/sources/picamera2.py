"""The Raspberry Pi camera through picamera2 (libcamera).

Two streams are configured: ``main`` at the camera resolution (``source.width`` x ``height``) and
``lores``, a low-resolution copy sized for the model that the ISP scales in hardware, which is much
cheaper than resizing on the CPU. Frames are read from ``lores`` (``main`` is not copied), so
documents give coordinates in lores pixels with the lores ``width`` and ``height``.

Pixel formats are handled explicitly, because picamera2 names them after libcamera/DRM, whose byte
order is the reverse of what the names suggest to NumPy users: ``RGB888`` arrays are ``[B, G, R]``,
``BGR888`` arrays are ``[R, G, B]``. The lores stream is ``YUV420`` (the only lores format on a
Pi 4 and earlier), an ``(height * 3/2, stride)`` array of the Y, U and V planes.

The capture time is the request's ``SensorTimestamp`` (nanoseconds on CLOCK_MONOTONIC, the clock
of ``time.monotonic()``), not the time the frame reached Python.

Each way the import fails on a Pi gets its own line with the fix (:func:`diagnose_import`): picamera2
not installed, installed by apt but hidden from a venv made without ``--system-site-packages``,
libcamera's bindings missing, and NumPy's ABI mismatch (apt's simplejpeg is built against apt's
NumPy; see :mod:`edgepose.syspackages`). A camera that another process holds is reported as busy.

Only ONE ``Picamera2`` object is made per camera for the life of the process: creating and
closing them repeatedly leaks memory and file descriptors (raspberrypi/picamera2 issues 958 and
887). :class:`CameraPool` keeps them; ``close`` only stops the camera.
"""

from __future__ import annotations

import errno
import importlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgepose import syspackages
from edgepose.errors import FrameError, UnavailableError
from edgepose.frame import Frame
from edgepose.sources.base import Clocks, Source

INSTALL_HINT = (
    "on Raspberry Pi OS: sudo apt install python3-picamera2, and create the virtual environment with "
    "--system-site-packages (make does); or use a USB camera (--source /dev/video0)"
)
LIBCAMERA_HINT = "sudo apt install python3-libcamera (picamera2's libcamera bindings come from apt only)"
BUSY_HINT = (
    "only one process can hold a Pi camera: stop the other one (another edgepose service, rpicam-*, "
    "a notebook; `sudo fuser -v /dev/media*` names it), then start again"
)
BUSY_MARKERS = ("Device or resource busy", "Failed to acquire camera", "returned unexpected code: -16")
LORES_FORMAT = "YUV420"
LORES_ALIGN = 64  # picamera2 rounds a YUV420 width down to a multiple of 64 (its align_stream)
MAIN_FORMAT = "RGB888"  # only used if the lores stream is turned off; [B, G, R] in NumPy
BUFFER_COUNT = 4  # fewer buffers than picamera2's video default (6): less memory, same rate


class Picamera2MissingError(UnavailableError):
    """picamera2 is simply not installed (not a Pi, or a USB camera only): not worth a warning."""


def import_picamera2(importer: Callable[[str], Any] = importlib.import_module) -> Any:
    """The ``picamera2`` module, or :class:`UnavailableError` (exit 69) saying which part is missing."""
    try:
        return importer("picamera2")
    except Exception as exc:  # ImportError, NumPy's ValueError, libcamera's own errors on import
        raise diagnose_import(exc) from None


def diagnose_import(exc: BaseException, system: syspackages.SystemPython | None = None) -> UnavailableError:
    """One line with the fix for each way ``import picamera2`` fails on a Pi (see the module doc)."""
    if syspackages.is_abi_error(exc):
        system = system or syspackages.scan()
        version, where = syspackages.numpy_in_use()
        built_for = system.numpy or "an older NumPy"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return UnavailableError(
            f"picamera2 cannot load: NumPy {version} ({where}) is in use, but apt's picamera2/simplejpeg were "
            f"built for NumPy {built_for} ({type(exc).__name__}: {first})",
            f"keep the venv on apt's NumPy: `make clean venv` or `sudo scripts/install.sh` pin it; or in this venv: "
            f"pip install 'numpy=={system.numpy}'"
            if system.numpy
            else "reinstall the venv with `make clean venv`",
        )
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
        if missing.split(".")[0] == "libcamera":
            return UnavailableError(
                "picamera2 is installed but libcamera's Python bindings are missing", LIBCAMERA_HINT
            )
        if missing.split(".")[0] == "picamera2":
            system = system or syspackages.scan()
            if "picamera2" in system.bound:
                return UnavailableError(
                    "picamera2 is installed by apt but this Python does not see it: the virtual environment "
                    "was created without --system-site-packages",
                    "recreate it: make clean venv (or sudo scripts/install.sh)",
                )
            return Picamera2MissingError(
                "the Raspberry Pi camera needs picamera2, which is not installed", INSTALL_HINT
            )
        return UnavailableError(
            f"picamera2 is installed but cannot import {missing or 'a module it needs'}",
            "sudo apt install --reinstall python3-picamera2",
        )
    return UnavailableError(f"picamera2 failed to import ({type(exc).__name__}: {exc})", INSTALL_HINT)


def is_busy(exc: BaseException) -> bool:
    """True when opening a camera failed because another process holds it (EBUSY anywhere in the chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "errno", None) == errno.EBUSY or any(m in str(current) for m in BUSY_MARKERS):
            return True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def list_cameras(module: Any) -> list[dict[str, Any]]:
    """``Picamera2.global_camera_info()``: one dict per attached camera (empty when there is none)."""
    return list(module.Picamera2.global_camera_info())


class CameraPool:
    """One ``Picamera2`` object per camera number for the whole process (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cameras: dict[int, Any] = {}

    def get(self, module: Any, number: int) -> Any:
        with self._lock:
            if number not in self._cameras:
                try:
                    self._cameras[number] = module.Picamera2(number)
                except RuntimeError as exc:  # "Camera __init__ sequence did not complete." and its cause
                    if is_busy(exc):
                        raise UnavailableError(
                            f"camera {number} is busy: another process holds it", BUSY_HINT
                        ) from None
                    raise UnavailableError(f"camera {number} could not be opened ({exc})", BUSY_HINT) from None
            return self._cameras[number]


# The process-wide pool: the one piece of module state in edgepose, because the camera's own
# library requires a single object per process; tests pass their own pool.
PROCESS_POOL = CameraPool()


def lores_size(main: tuple[int, int], model_input: tuple[int, int] | None) -> tuple[int, int] | None:
    """The smallest lores ``(width, height)`` that covers the model input with the main stream's aspect
    ratio and that picamera2 keeps as asked; None when that is not smaller than main.

    picamera2's ``align_stream`` rounds a YUV420 width down to a multiple of 64 (and a height to even);
    the ISP then scales the whole field of view into the aligned size, so a width it cuts would
    squeeze the picture (and could leave it narrower than the model). The width is therefore chosen
    as a multiple of 64 and the height follows it.
    """
    if model_input is None:
        return None
    scale = max(model_input[0] / main[0], model_input[1] / main[1])
    if scale >= 1.0:
        return None
    w = LORES_ALIGN * math.ceil(main[0] * scale / LORES_ALIGN)
    h = 2 * round(w * main[1] / main[0] / 2)
    while h < model_input[1]:
        w += LORES_ALIGN
        h = 2 * round(w * main[1] / main[0] / 2)
    if w >= main[0] or h >= main[1]:
        return None
    return (w, h)


def yuv420_to_rgb(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB uint8 ``(height, width, 3)`` from a planar YUV 4:2:0 array ``(height * 3/2, stride)``.

    BT.601 limited range (what OpenCV's ``COLOR_YUV2RGB_I420`` computes). Rows may be padded to a
    ``stride`` wider than ``width``; the U and V planes then hold half-stride rows, two per array row.
    """
    stride = array.shape[1]
    if array.ndim != 2 or array.shape[0] < height * 3 // 2 or stride < width:
        raise FrameError(f"YUV420 array of shape {array.shape} does not hold a {width}x{height} image")
    flat = np.ascontiguousarray(array[: height * 3 // 2]).reshape(-1)
    y = flat[: height * stride].reshape(height, stride)[:, :width].astype(np.float32)
    quarter = (height // 2) * (stride // 2)
    u = flat[height * stride : height * stride + quarter].reshape(height // 2, stride // 2)
    v = flat[height * stride + quarter : height * stride + 2 * quarter].reshape(height // 2, stride // 2)
    u = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)[:height, :width].astype(np.float32) - 128.0
    v = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[:height, :width].astype(np.float32) - 128.0
    c = 1.164 * (y - 16.0)
    rgb = np.stack((c + 1.596 * v, c - 0.391 * u - 0.813 * v, c + 2.018 * u), axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def to_rgb(array: np.ndarray, fmt: str, width: int, height: int) -> np.ndarray:
    """An RGB uint8 image from a picamera2 array in ``fmt`` (see the module doc on byte order)."""
    if fmt in ("YUV420", "YVU420"):
        rgb = yuv420_to_rgb(array, width, height)
        return rgb if fmt == "YUV420" else rgb[..., ::-1]  # U and V swapped: swap B and R back
    if fmt == "BGR888":  # [R, G, B]
        return np.ascontiguousarray(array[:height, :width, :3])
    if fmt == "RGB888":  # [B, G, R]
        return np.ascontiguousarray(array[:height, :width, 2::-1])
    if fmt == "XBGR8888":  # [R, G, B, A]
        return np.ascontiguousarray(array[:height, :width, :3])
    if fmt == "XRGB8888":  # [B, G, R, A]
        return np.ascontiguousarray(array[:height, :width, 2::-1])
    raise FrameError(f"picamera2 format {fmt} is not supported", "use YUV420, RGB888, BGR888, XBGR8888 or XRGB8888")


@dataclass(frozen=True)
class StreamChoice:
    name: str  # "lores" or "main"
    format: str
    size: tuple[int, int]  # (width, height) as configured (picamera2 may align it)


def numbered(count: int) -> str:
    """The picamera2 URIs of ``count`` connected cameras, as a hint says them."""
    return "picamera2:0" if count == 1 else f"one of picamera2:0 to picamera2:{count - 1}"


class Picamera2Source(Source):
    """Frames from one Pi camera, read from the ``lores`` stream when the model is smaller than ``main``."""

    continuous = True
    live = True

    def __init__(
        self,
        camera: str = "cam0",
        number: int = 0,
        size: tuple[int, int] = (1280, 720),
        fps: float = 30.0,
        model_input: tuple[int, int] | None = None,
        clocks: Clocks | None = None,
        module: Any = None,
        pool: CameraPool = PROCESS_POOL,
    ) -> None:
        self.name = camera
        self.number = number
        self.size = size
        self.fps = fps
        self.model_input = model_input
        self.clocks = clocks or Clocks()
        self.module = module
        self.pool = pool
        self.stream: StreamChoice | None = None
        self._cam: Any = None
        self._count = 0

    def open(self) -> None:
        module = self.module or import_picamera2()
        cameras = list_cameras(module)
        if not cameras:
            raise UnavailableError(
                "picamera2 finds no camera connected", "check the ribbon cable, then `rpicam-hello --list-cameras`"
            )
        if self.number >= len(cameras):
            raise UnavailableError(
                f"camera {self.number} is not connected: picamera2 lists {len(cameras)} camera(s)",
                f"its source must be {numbered(len(cameras))} (`source.uri`, `cameras.<name>.source.uri` or "
                "--source); `rpicam-hello --list-cameras` lists them",
            )
        cam = self.pool.get(module, self.number)
        lores = lores_size(self.size, self.model_input)
        config = cam.create_video_configuration(
            main={"size": self.size, "format": MAIN_FORMAT},
            lores={"size": lores, "format": LORES_FORMAT} if lores else None,
            controls={"FrameRate": float(self.fps)},
            buffer_count=BUFFER_COUNT,
        )
        cam.configure(config)
        name = "lores" if lores else "main"
        actual = cam.camera_configuration()[name]  # picamera2 may have aligned the size
        self.stream = StreamChoice(name, str(actual["format"]), tuple(actual["size"]))  # type: ignore[arg-type]
        cam.start()
        self._cam = cam

    def read(self) -> Frame | None:
        if self._cam is None or self.stream is None:
            raise FrameError("picamera2 source is not open")
        request = self._cam.capture_request()
        try:
            array = request.make_array(self.stream.name)
            metadata = request.get_metadata()
        finally:
            request.release()  # every request goes back to libcamera, or capture stalls
        width, height = self.stream.size
        rgb = to_rgb(array, self.stream.format, width, height)
        now_mono, now_wall = self.clocks.mono(), self.clocks.wall()
        sensor_ns = metadata.get("SensorTimestamp")
        mono = sensor_ns / 1e9 if sensor_ns else now_mono
        frame = Frame(rgb, self._count, now_wall - (now_mono - mono), mono, self.name)
        self._count += 1
        return frame

    def close(self) -> None:
        """Stop the camera; the ``Picamera2`` object stays in the pool for the next open."""
        if self._cam is not None:
            cam, self._cam = self._cam, None
            cam.stop()
