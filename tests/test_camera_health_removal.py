"""A camera a reload removes while the daemon assesses the cameras' health: its health entry must not
come back (it would keep /healthz at 503 for a camera that is gone). The removal is made to happen at
the worst moment, between the daemon reading the camera list and writing what it found."""

from __future__ import annotations

from types import SimpleNamespace

from edgepose.config import load_config
from edgepose.health import Health
from edgepose.pipeline.scheduling import CameraProgress
from edgepose.service.daemon import Daemon

STALL_S = 10.0


class RemovedMidAssessment:
    """A pipeline whose camera ``garden`` is removed (as App.camera_removed does: dropped from the
    list, then its health forgotten) right after the daemon first reads the camera list."""

    def __init__(self, health: Health) -> None:
        self.health = health
        self.names = ("front", "garden")
        self.reads = 0

    @property
    def cameras(self) -> tuple[str, ...]:
        names = self.names
        self.reads += 1
        if self.reads == 1:
            self.names = ("front",)
            self.health.forget("camera garden")
        return names

    def progress(self) -> dict[str, CameraProgress]:
        return {
            "front": CameraProgress("front", 0.0, 99.0, 99.0, False, ""),
            "garden": CameraProgress("garden", 0.0, 50.0, 50.0, False, ""),
        }


def daemon_over(pipeline_for) -> tuple[Daemon, Health]:  # type: ignore[no-untyped-def]
    config = load_config(None, ["cameras={front: {source: {uri: a.mp4}}, garden: {source: {uri: b.mp4}}}"])
    health = Health()
    app = SimpleNamespace(
        config=config, clock=lambda: 100.0, health=health, pipeline=None, hooks=[], sources={}, sinks=[], stats=None
    )  # no source opened: nothing to quieten
    app.pipeline = pipeline_for(health)
    return Daemon(app), health  # type: ignore[arg-type]


def test_a_camera_removed_while_assessed_leaves_no_health_behind() -> None:
    daemon, health = daemon_over(RemovedMidAssessment)
    health.unhealthy("camera garden", "no frame from the camera for 40.0 s")  # as the tick before said
    daemon.assess_cameras(100.0)  # garden stalled 50 s: the daemon would say so again
    assert health.components() == ("camera front",)
    assert health.status().healthy


def test_a_camera_whose_restart_failed_meanwhile_keeps_that_reason() -> None:
    """Another part's reason, set after the daemon's write (a restart that could not reopen the camera),
    is not the daemon's to forget."""

    class RestartFailed(RemovedMidAssessment):
        @property
        def cameras(self) -> tuple[str, ...]:
            names = super().cameras
            if self.reads == 2:  # after the daemon's write: the reopen failed and said why
                self.health.unhealthy("camera garden", "not running: no such file (fix the config and reload)")
            return names

    daemon, health = daemon_over(RestartFailed)
    daemon.assess_cameras(100.0)
    assert health.reason("camera garden") == "not running: no such file (fix the config and reload)"
