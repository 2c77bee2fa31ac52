"""Commands from outside (a reps reset from MQTT) to the analysis stage of a camera.

A sink that receives commands is given one :class:`Commands`; each camera's analysis stage
registers with it (the app does, as it builds or replaces a stage). The sink never holds a stage,
and the stage never knows where a command came from.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

RepsReset = Callable[[int | None], bool]


class Commands:
    """Where each camera's reps reset goes: ``reset(track)`` (None: every track), False when repetition
    counting is off. Called from the sink's thread; the stage queues the reset for its next frame."""

    def __init__(self) -> None:
        self._resets: dict[str, RepsReset] = {}
        self._lock = threading.Lock()

    def register(self, camera: str, reset: RepsReset) -> None:
        with self._lock:
            self._resets[camera] = reset

    def forget(self, camera: str) -> None:
        """A camera was removed: its commands have nowhere to go."""
        with self._lock:
            self._resets.pop(camera, None)

    def reset_reps(self, camera: str, track: int | None) -> bool | None:
        """Reset camera ``camera``'s counts (``track`` None: every track). True when done, False when
        counting is off, None when no stage of that camera is running yet."""
        with self._lock:
            reset = self._resets.get(camera)
        return None if reset is None else reset(track)
