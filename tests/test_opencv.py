"""OpenCV's one entry point: the install message when it is missing, and the colour order."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgepose.errors import UnavailableError
from edgepose.opencv import bgr_to_rgb, require_cv2, rgb_to_bgr


def test_colour_order_swaps_red_and_blue_both_ways() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    bgr = rgb_to_bgr(rgb)
    assert bgr[0, 0].tolist() == [30, 20, 10]
    assert np.array_equal(bgr_to_rgb(bgr), rgb)
    assert bgr_to_rgb(bgr) is not bgr  # a new image: a source's buffer may be reused by the driver


def test_missing_opencv_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(UnavailableError, match="needs OpenCV") as caught:
        require_cv2()
    assert "edgepose[video]" in (caught.value.hint or "")
