"""glibc's mmap threshold pinned, so that the large blocks the daemon frees go back to the kernel.

glibc serves an allocation of at least its mmap threshold (128 kB) with a mapping of its own and
unmaps it when it is freed. The threshold moves, though: freeing such a block raises it to that
block's size (up to 32 MB). The daemon frees model-sized blocks as it starts (a model read, then
rewritten: 6 MB for BlazePose full), and from then on every block below that size comes from heaps
that any long-lived small allocation keeps from shrinking. Setting the threshold (``mallopt``
``M_MMAP_THRESHOLD``) stops it moving: BlazePose full publishing to MQTT went from 151.7 to
148.8 MB PSS. Each large block then costs a mapping and its page faults, which is why the sources
reuse their frame buffers (:mod:`edgepose.sources.framepool`): the CPU a frame stayed the same.

A threshold the user set (``MALLOC_MMAP_THRESHOLD_``, which glibc reads at start) is left alone;
with a C library that has no ``mallopt`` (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept from moving
USER_SETTING = "MALLOC_MMAP_THRESHOLD_"


def pin_mmap_threshold(env: Mapping[str, str] | None = None, libc: Any = None) -> bool:
    """Pin glibc's mmap threshold at :data:`MMAP_THRESHOLD`; True when it was set here."""
    env = os.environ if env is None else env
    if USER_SETTING in env:
        return False
    try:
        libc = ctypes.CDLL(None) if libc is None else libc
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("glibc mmap threshold pinned at %d bytes: %s", MMAP_THRESHOLD, done)
    return done
