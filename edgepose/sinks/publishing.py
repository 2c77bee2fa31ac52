"""The MQTT sink's publishing policy: which camera's topics a frame goes to, and whether its pose
document goes at all (``mqtt.only_with_poses``, ``mqtt.max_rate``).

Per camera: one camera's frames never rate-limit another's. A frame from a camera the config does not
name (one a reload just removed) still goes to its own camera's topics, logged once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edgepose.config.sections import MqttConfig
from edgepose.errors import ConfigError
from edgepose.mqtt.topics import check_topic
from edgepose.sinks.layout import CameraOutput, Layout

log = logging.getLogger(__name__)


class PublishingPolicy:
    """Routes frames to their camera's output and applies the rate policy, counting what it skips.

    ``clock``: monotonic seconds (paces ``max_rate``). Called from the pipeline threads; a reload
    calls :meth:`reloaded` from the main thread.
    """

    def __init__(self, mqtt: MqttConfig, clock: Callable[[], float]) -> None:
        self.mqtt = mqtt
        self.clock = clock
        self._lock = threading.Lock()
        self._strays: dict[str, CameraOutput] = {}  # frames' cameras not configured, each logged once
        self._last_sent: dict[str, float] = {}  # camera -> when its latest pose message was queued
        self.skipped_policy = 0
        self.unknown_camera = 0  # frames from a camera not configured (published on its own topics)

    def route(self, layout: Layout, camera: str) -> CameraOutput:
        """Where a document of ``camera`` goes: its configured output, or a stray one (logged once)."""
        output = layout.cameras.get(camera)
        if output is not None:
            return output
        with self._lock:
            output = self._strays.get(camera)
            if output is None:
                output = self._strays[camera] = _stray(layout, camera)
            return output

    def admit(self, output: CameraOutput, people: int) -> bool:
        """Whether this frame's pose document is published (counts a frame of a camera not configured,
        and a frame the policy skips)."""
        m = self.mqtt
        with self._lock:
            if not output.configured:
                self.unknown_camera += 1
            skip = m.only_with_poses and people == 0
            if not skip and m.max_rate > 0:
                now = self.clock()
                last = self._last_sent.get(output.name)
                skip = last is not None and now - last < 1.0 / m.max_rate
                if not skip:
                    self._last_sent[output.name] = now
            if skip:
                self.skipped_policy += 1
            return not skip

    def reloaded(self, layout: Layout) -> None:
        """A camera configured now is no stray; a camera removed starts its rate afresh as a stray."""
        with self._lock:
            self._strays = {k: v for k, v in self._strays.items() if k not in layout.cameras}
            kept = layout.cameras.keys() | self._strays.keys()
            self._last_sent = {k: v for k, v in self._last_sent.items() if k in kept}

    def counters(self) -> dict[str, int]:
        """``skipped_policy``, and ``unknown_camera`` once there was such a frame."""
        with self._lock:
            unknown = {"unknown_camera": self.unknown_camera} if self.unknown_camera else {}
            return {"skipped_policy": self.skipped_policy, **unknown}


def _stray(layout: Layout, camera: str) -> CameraOutput:
    """The output of a camera not configured, logged (once per camera by the caller)."""
    topics = layout.topics.for_camera(camera)
    try:
        check_topic(topics.poses, "mqtt topic 'poses'")
        routable = True
    except ConfigError:
        routable = False
    if routable:
        log.warning(
            "mqtt: frames of camera %r, which is not configured (cameras: %s): its poses and events go "
            "to %s and %s, without a count, zone or fall state (logged once)",
            camera,
            ", ".join(layout.cameras),
            topics.poses,
            topics.events,
        )
    else:
        log.warning(
            "mqtt: frames of camera %r, which is not configured and is no topic level: not published (logged once)",
            camera,
        )
    return CameraOutput(camera, topics, configured=False, routable=routable)
