"""Facts about the machine the tests run on, and markers for tests that only hold without some hardware.

Several tests exercise what edgepose says when the Edge TPU runtime, a Coral or a camera is
missing, through the real loader, sysfs and /dev. On a Raspberry Pi with a Coral or a camera those
premises do not hold: such tests are marked here and skipped there, never failed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgepose.inference.tpu_devices import find_edgetpus, library_loads

LIBEDGETPU = library_loads("libedgetpu.so.1")  # the Edge TPU runtime is installed
EDGETPU = bool(find_edgetpus())  # a Coral shows in sysfs or /dev
V4L2_CAMERA = any(Path("/dev").glob("video*"))
PICAMERA2 = importlib.util.find_spec("picamera2") is not None
CAMERA = V4L2_CAMERA or PICAMERA2

without_libedgetpu = pytest.mark.skipif(
    LIBEDGETPU, reason="environment: libedgetpu is installed here, so its absence cannot be tested"
)
without_edgetpu = pytest.mark.skipif(EDGETPU, reason="environment: an Edge TPU is present here")
without_camera = pytest.mark.skipif(CAMERA, reason="environment: this machine has a camera (or picamera2)")
