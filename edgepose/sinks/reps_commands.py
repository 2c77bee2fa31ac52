"""The reps reset command the MQTT sink receives on ``<prefix>/<camera>/reps/reset``, handed to the
analysis stage through :class:`~edgepose.analysis.commands.Commands`.

An empty (or whitespace) payload resets every count of that camera, a track id one track's. Anything
else is counted (``commands_refused``) and logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edgepose.analysis.commands import Commands
from edgepose.sinks.layout import Layout

log = logging.getLogger(__name__)


class RepsCommands:
    """Reads reset commands for the cameras of ``layout()`` (read at each message: a reload may turn
    the reps on or off, or change the cameras). The handlers run on the transport's network thread."""

    def __init__(self, commands: Commands, layout: Callable[[], Layout]) -> None:
        self.commands = commands
        self.layout = layout
        self._lock = threading.Lock()
        self.reps_resets = 0  # reset commands handed to the stage
        self.commands_refused = 0  # command messages not understood (or arriving before the stage runs)

    def _ours(self, topic: str) -> str | None:
        """The camera a reset on ``topic`` is for, None while reps are off or the camera is not configured
        (another daemon's, under a shared prefix)."""
        layout = self.layout()
        camera = layout.topics.camera_of(topic, "reps/reset")
        return camera if layout.reps_on and camera in layout.cameras else None

    def on_message(self, topic: str, payload: bytes) -> None:
        """One reset command: handed to the stage, or refused (counted and logged)."""
        camera = self._ours(topic)
        if camera is None:
            return
        text = payload.decode("utf-8", "replace").strip()
        track: int | None = None
        why = ""
        if text:
            if text.isascii() and text.isdigit() and len(text) <= 18:
                track = int(text)
            else:
                why = f"the payload {text[:40]!r} is neither empty (every track) nor a track id"
        if not why:
            done = self.commands.reset_reps(camera, track)
            if done is None:
                why = "the analysis stage is not running yet"
            elif not done:
                why = "repetition counting is off"
        with self._lock:
            if why:
                self.commands_refused += 1
            else:
                self.reps_resets += 1
        if why:
            log.warning("mqtt: %s: command ignored: %s", topic, why)

    def on_retained(self, topic: str, payload: bytes) -> None:
        """A reset published retained: ignored, counted (``commands_refused``) and logged, since it would
        reset the counts at every connect. Silent where :meth:`on_message` would be."""
        if self._ours(topic) is None:
            return
        with self._lock:
            self.commands_refused += 1
        why = "it was published retained, so it would reset the counts at every connect"
        log.warning("mqtt: %s: command ignored: %s (clear it: mosquitto_pub -r -n -t %s)", topic, why, topic)

    def counters(self) -> dict[str, int]:
        """``reps_resets`` and ``commands_refused`` while reps are on."""
        if not self.layout().reps_on:
            return {}
        with self._lock:
            return {"reps_resets": self.reps_resets, "commands_refused": self.commands_refused}
