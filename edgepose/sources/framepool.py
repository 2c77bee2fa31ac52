"""Frame buffers a source fills again once nothing holds them.

An OpenCV source allocated two images a frame: the decoded BGR and the RGB copy the pipeline gets
(2.7 MB each at 720p), freed by another thread a frame later. With glibc's mmap threshold pinned
(:mod:`edgepose.service.heap`), each would be a fresh mapping, faulted in and zeroed every frame
(10 ms a frame more for BlazePose full). A source decodes into one BGR buffer of its own instead
(:class:`DecodeBuffers`), and converts into an RGB buffer from this pool.

A buffer is free when the pool holds the only reference to it: a frame, a view of its image (NumPy
keeps the owner as every view's ``base``) or a thread working on it keeps it taken, so a frame
still in use is never written over. A frame that every buffer is busy for gets a fresh array,
which the pool does not keep once it is full.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from edgepose.opencv import bgr_to_rgb

POOL_SIZE = 4  # a frame being decoded, one queued, one in the pipeline, one held (preview, overlap)


class FramePool:
    """Up to ``size`` reusable images; :meth:`take` returns one nothing else refers to."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._buffers: list[np.ndarray] = []
        self.fresh = 0  # images allocated because every buffer of the shape was busy or the pool full

    def take(self, shape: tuple[int, ...], dtype: np.dtype | type = np.uint8) -> np.ndarray:
        """A free buffer of ``shape`` and ``dtype`` (its content is stale: the caller overwrites it all)."""
        dtype = np.dtype(dtype)
        # No local name is bound to a pooled buffer while others are tested: it would count as a holder.
        for i in range(len(self._buffers)):
            if self._buffers[i].shape == shape and self._buffers[i].dtype == dtype and self._free(i):
                return self._buffers[i]
        image = np.empty(shape, dtype)
        if len(self._buffers) < self.size:
            self._buffers.append(image)
            return image
        for i in range(len(self._buffers)):  # full: a free buffer of another size (a new resolution) makes room
            if self._free(i):
                self._buffers[i] = image
                return image
        self.fresh += 1
        return image

    def _free(self, index: int) -> bool:
        return sys.getrefcount(self._buffers[index]) <= FREE_REFERENCES


class DecodeBuffers:
    """An OpenCV source's frame buffers: the decoded BGR, written over by each read, and the pool
    its RGB frames come from."""

    def __init__(self) -> None:
        self.bgr: Any = None
        self.pool = FramePool()

    def read(self, cap: Any) -> tuple[bool, Any]:
        """``cap.read()`` into the kept buffer; OpenCV allocates anew when the size changed."""
        return cap.read(self.bgr) if self.bgr is not None else cap.read()

    def rgb(self, bgr: np.ndarray) -> np.ndarray:
        """The RGB frame of ``bgr`` in a free pooled buffer; ``bgr`` becomes the next read's buffer."""
        image = bgr_to_rgb(bgr, self.pool)
        self.bgr = bgr
        return image


def _only_the_list() -> int:
    """The reference count ``getrefcount`` gives for an array only a list holds (2 on CPython: the
    list's and the argument's), measured the way :meth:`FramePool._free` asks."""
    held = [np.empty(1)]
    return sys.getrefcount(held[0])


FREE_REFERENCES = _only_the_list()
