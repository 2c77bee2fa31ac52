"""What the MQTT sink publishes where under the settings in effect: its cameras, their topics and zones.

One frozen :class:`Layout` per config; a reload swaps it whole, so a thread that read it once sees one
consistent set of cameras and settings. The publishing policy, the retained states and the
announcements all read the layout; none of them changes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgepose.config.cameras import camera_configs
from edgepose.config.sections import Config
from edgepose.mqtt.topics import Topics


def analysis_settings(config: Config) -> tuple[bool, list[str], bool, bool]:
    """What the sink publishes for the analysis stage: (stage on, this camera's zone names, falls on, reps on)."""
    a = config.analysis
    camera = config.source.camera
    zones = [z.name for z in a.zones if z.camera in ("", camera)] if a.enabled else []
    return a.enabled, zones, a.enabled and a.behaviours.falls.enabled, a.enabled and a.behaviours.reps.enabled


@dataclass(frozen=True)
class CameraOutput:
    """One camera's topics and zones in the sink. ``configured`` is False for a camera the config does
    not name (its poses and events are still published; no count, zone or fall state); ``routable`` is
    False when its topics are not valid topics (never for a configured camera)."""

    name: str
    topics: Topics
    zones: tuple[str, ...] = ()
    configured: bool = True
    routable: bool = True


def camera_outputs(config: Config, topics: Topics) -> dict[str, CameraOutput]:
    """Every configured camera's output, in the order of ``cameras``."""
    out: dict[str, CameraOutput] = {}
    for camera in camera_configs(config):
        name = camera.source.camera
        out[name] = CameraOutput(name, topics.for_camera(name), tuple(analysis_settings(camera)[1]))
    return out


@dataclass(frozen=True)
class Layout:
    """The cameras (in order; the first one's topics are ``meta``'s flat keys) and the analysis
    settings in effect. ``topics`` is the first camera's: ``available``, ``meta``, ``stats`` and
    ``count`` are the device's."""

    config: Config
    topics: Topics
    cameras: Mapping[str, CameraOutput]
    analysis_on: bool
    falls_on: bool
    reps_on: bool

    @classmethod
    def of(cls, config: Config, topics: Topics | None = None) -> Layout:
        """``config``'s layout; ``topics`` (a reload) keeps the prefix checked at start."""
        first = Topics.from_config(config)
        topics = first if topics is None else topics.for_camera(first.camera)
        analysis_on, _, falls_on, reps_on = analysis_settings(config)
        return cls(config, topics, camera_outputs(config, topics), analysis_on, falls_on, reps_on)

    @property
    def several(self) -> bool:
        """More than one camera: per-camera counts and people sensors, ``count`` the device's total."""
        return len(self.cameras) > 1

    @property
    def first(self) -> CameraOutput:
        return next(iter(self.cameras.values()))

    def zone_topics(self) -> set[str]:
        """Every configured zone's state topic."""
        return {o.topics.zone(z) for o in self.cameras.values() for z in o.zones}

    def camera_topics(self, output: CameraOutput) -> dict[str, str]:
        """One camera's topics under the settings in effect (``count`` with several cameras only)."""
        t = output.topics
        topics = {"poses": t.poses}
        if self.several and self.config.mqtt.publish_count:
            topics["count"] = t.camera_count
        if self.analysis_on:
            topics["events"] = t.events
            topics.update({f"zones/{zone}": t.zone(zone) for zone in output.zones})
        if self.falls_on:
            topics["fall"] = t.fall
        if self.reps_on:
            topics["reps/reset"] = t.reps_reset
        return topics

    def meta_with_topics(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with the ``topics`` published under these settings: the device's and the first
        camera's as flat keys (as with one camera), and ``cameras``: every camera's."""
        t = self.topics
        topics: dict[str, Any] = {"available": t.available, "poses": t.poses, "stats": t.stats, "count": t.count}
        topics.update({k: v for k, v in self.camera_topics(self.first).items() if k != "count"})
        topics["cameras"] = {name: self.camera_topics(output) for name, output in self.cameras.items()}
        return {**meta, "topics": topics}
