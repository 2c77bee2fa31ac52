"""Stand-in for libcamera's Python bindings (apt's ``python3-libcamera``), which exist only on a Pi.

The picamera2 stand-in imports it first, as the real picamera2 does, so that removing this package
reproduces "libcamera's bindings are missing". It carries no camera logic.
"""

__version__ = "0.3.0+standin"


class CameraManager:
    """The one libcamera object picamera2 asks for at import; it lists nothing by itself."""

    @staticmethod
    def singleton() -> "CameraManager":
        return CameraManager()
