"""Reloading a running daemon (SIGHUP): what a new config changes, and applying it.

:func:`plan_reload` splits a new config into the keys applied live and those that wait for a
restart (a pure function). :class:`Reloader` applies a plan to the running app: it builds every
change first (a decoder setup, a tracker, an analysis stage, a camera's opened source), so a change
that cannot be built (an :class:`~edgepose.errors.EdgeposeError`) leaves the service as it was,
then queues them on the pipeline (:class:`~edgepose.pipeline.changes.Reconfigure`,
:class:`~edgepose.pipeline.changes.AddCamera`, :class:`~edgepose.pipeline.changes.RemoveCamera`),
which swaps them in between two frames, and tells the sinks
(:class:`~edgepose.documents.output.Reloaded`). The app only assembles, starts and stops; the
daemon only reads the new config and logs what happened.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgepose.analysis.stage import AnalysisStage
from edgepose.analysis.successor import Successor
from edgepose.config.cameras import camera_config, camera_configs, fps_cap
from edgepose.config.sections import Config
from edgepose.documents.meta import meta_document
from edgepose.documents.output import Reloaded
from edgepose.errors import EdgeposeError
from edgepose.pipeline.changes import KEEP, AbandonCamera, AddCamera, Reconfigure, RemoveCamera, Request
from edgepose.pipeline.lanes import Lane

if TYPE_CHECKING:
    from edgepose.app import App

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload changes: keys applied live, and keys that only take effect after a restart."""

    config: Config  # the configuration in effect after the reload
    applied: tuple[str, ...]
    restart: tuple[str, ...]


def changed_keys(old: Any, new: Any, prefix: str = "") -> tuple[str, ...]:
    """Dotted paths of the fields that differ between two config dataclasses (values never logged)."""
    out: list[str] = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            out.extend(changed_keys(a, b, path + "."))
        elif isinstance(a, dict) and isinstance(b, dict):  # cameras: an entry added, removed or changed
            for key in [*a, *(k for k in b if k not in a)]:
                if key in a and key in b:
                    out.extend(changed_keys(a[key], b[key], f"{path}.{key}."))
                else:
                    out.append(f"{path}.{key}")
        elif a != b:
            out.append(path)
    return tuple(out)


# Keys a running service applies without a restart. Everything else needs one (the model, the
# source, the sinks, the broker, the health port...). ``tracking.*`` is live when the pipeline has
# a tracking stage to rebuild (ids start again); ``analysis.*`` once the pipeline runs (the stage
# is rebuilt, zone state carried over: ``analysis.successor.Successor``); ``decoder.numba_cache_dir``
# is read at start only.
LIVE_KEYS = ("decoder.", "logging.", "tracking.", "analysis.")
START_ONLY_KEYS = ("decoder.numba_cache_dir",)
# The cameras themselves change live too (one camera or several): one added is
# opened and joins, one removed leaves, one whose source or fps cap changed restarts alone (the
# others go on); the top-level source is then only what they share, applied through them.
CAMERA_KEYS = ("cameras.", "source.")
CAMERA_START_ONLY = tuple(f".{key}" for key in START_ONLY_KEYS)  # each camera's copy of a start-only key


def plan_reload(old: Config, new: Config, can_track: bool = True, can_analyze: bool = True) -> ReloadPlan:
    """Split a reload into what applies now and what waits for a restart (a pure function)."""
    applied, restart = [], []
    # The pipeline runs, and the config names its cameras the same way before and after (a switch
    # between one `source` and `cameras` renames them all: a restart).
    cameras_live = can_analyze and bool(old.cameras) == bool(new.cameras)
    for key in changed_keys(old, new):
        start_only = key in START_ONLY_KEYS or (key.startswith("cameras.") and key.endswith(CAMERA_START_ONLY))
        live = (key.startswith(LIVE_KEYS) or (cameras_live and key.startswith(CAMERA_KEYS))) and not start_only
        if key.startswith("tracking.") and not can_track:
            live = False
        if key.startswith("analysis.") and not can_analyze:
            live = False
        (applied if live else restart).append(key)
    sections = {key.split(".", 1)[0] for key in applied}
    effective = dataclasses.replace(old, **{name: getattr(new, name) for name in sections})
    if "decoder.numba_cache_dir" in restart:  # keep the start-time value in the decoder section in effect
        effective = dataclasses.replace(
            effective, decoder=dataclasses.replace(effective.decoder, numba_cache_dir=old.decoder.numba_cache_dir)
        )
    if effective.cameras:  # a shared key: each camera's copy is the top level's in effect
        cache = effective.decoder.numba_cache_dir
        effective = dataclasses.replace(
            effective,
            cameras={
                name: dataclasses.replace(c, decoder=dataclasses.replace(c.decoder, numba_cache_dir=cache))
                for name, c in effective.cameras.items()
            },
        )
    return ReloadPlan(effective, tuple(applied), tuple(restart))


def behaviour_config(config: Config) -> tuple[object, ...]:
    """What the behaviours analyzer is built from: equal before and after a reload, it is kept."""
    a = config.analysis
    camera = config.source.camera  # a camera's own config (camera_configs)
    excluded = tuple(z.polygon for z in a.zones if z.name in a.behaviours.falls.exclude and z.camera in ("", camera))
    return a.enabled, a.behaviours, a.min_keypoint_score, excluded


class Reloader:
    """Applies reloads to ``app``'s running pipeline; holds the cameras a reload is restarting."""

    def __init__(self, app: App) -> None:
        self.app = app
        # Cameras a reload is restarting: the settings they come back with (the latest reload's).
        self._restarts: dict[str, tuple[Config, Config]] = {}
        self._restart_lock = threading.Lock()

    def apply(self, plan: ReloadPlan) -> None:
        """Build what changed, then queue it: the pipeline swaps it in between two frames.

        Everything is built before anything is queued, so a part that cannot be built (an
        :class:`EdgeposeError`, e.g. an empty pose library) leaves the service as it was."""
        app, new = self.app, plan.config
        cameras = any(k.startswith("cameras.") for k in plan.applied)  # per camera: decoder, tracking, source
        decoder = (cameras or any(k.startswith("decoder.") for k in plan.applied)) and app.loaded is not None
        tracking = (cameras or any(k.startswith("tracking.") for k in plan.applied)) and app.pipeline is not None
        analysis = any(k.startswith("analysis.") for k in plan.applied) and app.pipeline is not None
        if decoder or tracking or analysis or cameras:
            # Every change is built before one is queued (one that cannot be built raises: nothing queued),
            # and each camera's changes are one Reconfigure: the frame that takes it takes all of it.
            requests = self.requests(new, decoder, tracking, analysis, cameras)
            if app.pipeline is not None:
                for request in requests:
                    app.pipeline.request(request)
            else:  # still starting: no frame has run, nothing to queue behind
                for request in requests:
                    if isinstance(request, Reconfigure) and request.decoder is not None:
                        app.loaded.estimator.use(request.decoder)
            self.after(new, requests, announce=analysis or cameras)
        app.config = new

    def build_analysis(self, new: Config, camera: str | None = None) -> Successor | None:
        """The stage ``new.analysis`` asks for on ``camera`` (None: the first), to replace the one in
        effect (a reload); built here, off the inference thread, so one that cannot be built (an empty
        pose library) raises :class:`~edgepose.errors.ConfigError` and changes nothing. See
        :class:`Successor` for the state it carries over."""
        name = camera or camera_configs(self.app.config)[0].source.camera
        new_camera = camera_config(new, name)
        stage = self.app.parts.analysis(new_camera, self.app.stats.camera(name))
        if stage is None:
            return None
        current = self.app.analyses.get(name)
        kept = current.stage if isinstance(current, Successor) else current
        try:
            same_behaviours = behaviour_config(camera_config(self.app.config, name)) == behaviour_config(new_camera)
        except KeyError:  # a camera this reload adds
            same_behaviours = False
        if kept is not None and kept.behaviours is not None and stage.behaviours is not None and same_behaviours:
            analyzers = [kept.behaviours if a is stage.behaviours else a for a in stage.analyzers]
            stage = AnalysisStage(analyzers, stage.min_keypoint_score, stage.stats)
        return Successor(stage, current)

    def requests(self, new: Config, decoder: bool, tracking: bool, analysis: bool, cameras: bool) -> list[Request]:
        """What the running pipeline must change for ``new``, built here before anything is queued.

        Per camera: a new decoder setup, tracker or analysis stage (:class:`Reconfigure` for that
        camera); a camera that is new is opened and built now (:class:`AddCamera`), one that is gone
        is removed (:class:`RemoveCamera`); a camera whose source or fps cap changed is restarted
        alone: removed, and opened again once its old source is closed (the device is free then). An
        :class:`~edgepose.errors.EdgeposeError` (a new camera that cannot be opened, an empty pose
        library) propagates before anything is queued, so the service stays as it was."""
        self.app.require("loaded")
        old_cameras = {c.source.camera: c for c in camera_configs(self.app.config)}
        new_cameras = {c.source.camera: c for c in camera_configs(new)}
        requests: list[Request] = []
        added: list[AddCamera] = []
        try:
            for name, camera in new_cameras.items():
                self._plan_camera(
                    name, camera, old_cameras.get(name), new, decoder, tracking, analysis, cameras, requests, added
                )
        except BaseException:  # the reload fails as a whole: what was opened for it is closed again
            for request in added:
                self.app.camera_removed(request.lane)
                self.app.analyses.pop(request.lane.name, None)
            raise
        if cameras:
            gone = [name for name in old_cameras if name not in new_cameras]
            with self._restart_lock:
                for name in gone:  # one still restarting stays closed (its removal ends the restart)
                    self._restarts.pop(name, None)
            requests += [RemoveCamera(name, self.app.camera_removed) for name in gone]
        return requests + added

    def _plan_camera(
        self,
        name: str,
        camera: Config,
        before: Config | None,
        new: Config,
        decoder: bool,
        tracking: bool,
        analysis: bool,
        cameras: bool,
        requests: list[Request],
        added: list[AddCamera],
    ) -> None:
        """What one camera of ``new`` needs (see :meth:`requests`), appended to ``requests`` or ``added``."""
        with self._restart_lock:
            if name in self._restarts:  # restarting: it comes back with these settings
                self._restarts[name] = (camera, new)
                return
        lane = self.app.pipeline.lane(name) if self.app.pipeline is not None else None
        running = lane is not None or (self.app.pipeline is not None and self.app.pipeline.adding(name))
        if before is None or (cameras and not running and self.app.pipeline is not None):
            # new, or not running (its restart failed): opened and added now
            if cameras:
                added.append(AddCamera(self.app.build_lane(camera, new)))
                self.app.health.forget(f"camera {name}")
            return
        if cameras and (before.source != camera.source or fps_cap(self.app.config, name) != fps_cap(new, name)):
            with self._restart_lock:
                self._restarts[name] = (camera, new)
            requests.append(RemoveCamera(name, self._reopen(name), restart=True))
            return
        estimator = lane.estimator if lane is not None else self.app.loaded.estimator
        change = Reconfigure(
            decoder=estimator.setup_for(camera.decoder) if decoder and before.decoder != camera.decoder else None,
            tracking=self.app.parts.tracking(camera) if tracking and before.tracking != camera.tracking else KEEP,
            analysis=self.build_analysis(new, name) if analysis else KEEP,
            camera=name,
        )
        if change != Reconfigure(camera=change.camera):
            requests.append(change)

    def _reopen(self, name: str) -> Callable[[Lane], None]:
        """The second half of a camera's restart, once its old source is closed: open it with the
        settings of the latest reload (``_restarts``: a reload while it restarts only updates them) and
        add it again. If it cannot be opened it stays out, said in the log and in health; if a reload
        removed it meanwhile, it stays closed."""

        def reopen(lane: Lane) -> None:
            self.app.camera_removed(lane)
            with self._restart_lock:  # against a reload planning this camera now
                pending = self._restarts.pop(name, None)
                if pending is None or self.app.pipeline is None:
                    return
                camera, new = pending
                try:
                    fresh = self.app.build_lane(camera, new)
                except Exception as exc:
                    why = exc.message if isinstance(exc, EdgeposeError) else f"{type(exc).__name__}: {exc}"
                    log.error("camera %s could not be restarted with its new settings: %s", name, why)
                    self.app.health.unhealthy(f"camera {name}", f"not running: {why} (fix the config and reload)")
                    self.app.pipeline.request(AbandonCamera(name, exc))  # with no camera left the run ends
                    return
                self.app.pipeline.request(AddCamera(fresh))

        return reopen

    def after(self, new: Config, requests: list[Request], announce: bool) -> None:
        """The reload's requests were queued: point commands at the new stages and, when ``announce``
        (the analysis or the cameras changed), tell the sinks: the stream sinks' event lines, the MQTT
        sink's topics, announcements (``meta``, zone and fall entities) and retained states
        (:class:`~edgepose.documents.output.Reloaded`)."""
        first = camera_configs(new)[0].source.camera
        for request in requests:
            if isinstance(request, Reconfigure) and request.analysis is not KEEP:
                name = request.camera or first
                self.app.analyses[name] = request.analysis
                self.app.connect_commands(request.analysis, name)
            elif isinstance(request, RemoveCamera):
                self.app.analyses.pop(request.name, None)
                self.app.commands.forget(request.name)
        if announce:
            meta = meta_document(new, self.app.loaded) if self.app.loaded is not None else {}
            for sink in self.app.sinks:
                sink.write(Reloaded(new, meta))
