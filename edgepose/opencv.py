"""OpenCV in one place: importing it with a message that says how to install it, and colour order.

OpenCV decodes and encodes images and video as BGR; every edgepose frame is RGB (``Frame.image``).
Image and video sources convert with :func:`bgr_to_rgb` as they read, writers and the preview with
:func:`rgb_to_bgr` as they encode; nothing else converts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.errors import UnavailableError

if TYPE_CHECKING:
    from edgepose.sources.framepool import FramePool


def require_cv2() -> Any:
    """OpenCV, or an :class:`UnavailableError` saying how to install it (it is the ``video`` extra)."""
    try:
        import cv2
    except ImportError:
        raise UnavailableError(
            "reading image and video files needs OpenCV, which is not installed",
            "pip install 'edgepose[video]' (opencv-python-headless)",
        ) from None
    return cv2


def bgr_to_rgb(image: np.ndarray, pool: FramePool | None = None) -> np.ndarray:
    """An RGB image from an OpenCV (BGR) one: new, or a free buffer of ``pool`` written over."""
    cv2 = require_cv2()
    if pool is None:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=pool.take(image.shape, image.dtype))


def rgb_to_bgr(image: np.ndarray) -> np.ndarray:
    """A new BGR image (what OpenCV encodes) from an edgepose (RGB) one."""
    cv2 = require_cv2()
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
