"""The cameras of a config, each as the config that one camera runs with.

Everything per camera (the source, its topics, its zones, its tracker and thresholds) is read from
a camera's own :class:`~edgepose.config.sections.Config`: the daemon's config with that camera's
``source``, ``decoder`` and ``tracking`` in place. So the code written for one camera (topics,
zones, the analysis stage, meta) serves each camera unchanged. Without ``cameras`` the one camera
is ``source``.
"""

from __future__ import annotations

import dataclasses

from edgepose.config.sections import Config


def camera_configs(config: Config) -> tuple[Config, ...]:
    """One config per camera, in the order of ``cameras`` (the round-robin order); ``(config,)`` without it."""
    if not config.cameras:
        return (config,)
    return tuple(
        dataclasses.replace(config, source=c.source, decoder=c.decoder, tracking=c.tracking)
        for c in config.cameras.values()
    )


def camera_names(config: Config) -> tuple[str, ...]:
    """The cameras' names: the keys of ``cameras``, or ``source.camera``."""
    return tuple(config.cameras) if config.cameras else (config.source.camera,)


def camera_config(config: Config, name: str) -> Config:
    """The config of camera ``name`` (KeyError for a camera not configured)."""
    for camera in camera_configs(config):
        if camera.source.camera == name:
            return camera
    raise KeyError(name)


def fps_cap(config: Config, name: str) -> float | None:
    """Camera ``name``'s fps cap, None without one."""
    entry = config.cameras.get(name)
    return entry.fps_cap if entry is not None and entry.fps_cap > 0 else None
