"""Where a thread that will not stop is waiting: the lines a forced stop logs.

A stop that runs out of ``service.shutdown_timeout`` exits without the pipeline thread. Its
stack at that moment (a sink's write into a full pipe, a source's read, an invoke) is the one
thing that tells a hung camera from a hung broker or a model that never returns, and it is gone
once the process exits.
"""

from __future__ import annotations

import sys
import threading
import traceback

DEPTH = 12  # the innermost calls: where it waits, and the pipeline step that called it


def thread_stack(thread: threading.Thread, depth: int = DEPTH) -> str:
    """The innermost ``depth`` calls of a running ``thread``, innermost last, as a traceback prints
    them; a short note when the thread has already ended."""
    frame = sys._current_frames().get(thread.ident) if thread.ident is not None else None
    if frame is None:
        return "  (it has ended)"
    return "".join(traceback.format_stack(frame)[-depth:]).rstrip()
