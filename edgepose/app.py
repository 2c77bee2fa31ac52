"""Assembling a run from the config: model, estimator, source, sinks, pipeline.

:class:`App` starts its parts as a list of named steps and stops them in reverse, so the service
layer, the benchmark and tests can reuse the steps they need. Each part is built by a factory of
:class:`AppParts`, so a test replaces a part (a gated source, a wrapped engine) without
subclassing :class:`App`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.analysis.commands import Commands
from edgepose.analysis.stage import AnalysisStage, make_analysis
from edgepose.config.cameras import camera_config, camera_configs, camera_names, fps_cap
from edgepose.config.sections import Config
from edgepose.decode.blazepose.outputs import matches_landmarks
from edgepose.documents.meta import meta_document
from edgepose.documents.output import Reloaded
from edgepose.documents.poses import Stamp
from edgepose.errors import EdgeposeError, InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.inference.accelerator import EngineChoice, open_engine
from edgepose.logs import ONCE_EACH
from edgepose.modelstore.locate import locate, search_dirs
from edgepose.pipeline.runner import (
    KEEP,
    AbandonCamera,
    AddCamera,
    Lane,
    Pipeline,
    Reconfigure,
    RemoveCamera,
    Request,
    ResultHook,
    Tracking,
    overlap_for,
)
from edgepose.pose import FrameResult
from edgepose.sinks import Sink, make_sink
from edgepose.sources import Source, make_source
from edgepose.sources.base import Clocks
from edgepose.stats import RunStats
from edgepose.tracking import make_tracker

if TYPE_CHECKING:  # drawing (OpenCV) is imported only where the preview asks for it
    from edgepose.analysis.overlay import LiveOverlay
    from edgepose.estimation.loaded import Estimator

log = logging.getLogger(__name__)

SAMPLE_SOURCE = "squat"  # the manifest's sample image for machines without a camera


def model_dirs(config: Config) -> list[Path]:
    return search_dirs(config.model.dirs, config.model.cache_dir)


def build_estimator(config: Config, health: Health | None = None, stats: RunStats | None = None) -> Loaded:
    """The model pair's file for the accelerator in use, in a supervised engine (see ``inference/accelerator``)."""

    def count_fallback(_reason: str) -> None:
        if stats is not None:
            stats.count("accelerator_fallbacks")

    choice = open_engine(config.model, model_dirs(config), health, count_fallback)
    path = choice.model_path
    name = path.stem
    try:
        estimator = make_estimator(choice, config, stats)
    except BaseException:
        choice.engine.close()
        raise
    log.info("model %s on %s (%d threads), input %s, format %s", name, choice.accelerator,
             config.model.threads, list(choice.engine.input.shape), estimator.decoder.format)  # fmt: skip
    return Loaded(estimator, name, path, choice.accelerator, choice.fallback)


def make_estimator(choice: EngineChoice, config: Config, stats: RunStats | None = None) -> Estimator:
    """The estimator for the model's outputs: BlazePose's two stages for a BlazePose landmark model
    (its detector found by :func:`~edgepose.estimation.blazepose.find_detector`), else one model and
    the decoder its outputs choose."""
    name = choice.model_path.stem
    engine = choice.engine
    if matches_landmarks(engine.outputs, engine.input):
        from edgepose.estimation.blazepose import BlazePoseEstimator, find_detector, open_detector

        detector_path = find_detector(choice.model_path, config.model.detector, model_dirs(config))
        detector = open_detector(detector_path, config.model.threads)
        log.info("BlazePose person detector %s", detector_path)
        return BlazePoseEstimator(engine, detector, config.decoder, model_name=name, stats=stats)
    return PoseEstimator(
        engine,
        config.decoder,
        model_name=name,
        model_options=choice.decoder_options,
        resize=config.model.resize,
        stats=stats,
    )


def preview_overlay(config: Config) -> LiveOverlay | None:
    """Zones and angles on the preview (``service.preview.zones``/``angles``), and the behaviours'
    findings (matches, counts, falls) whenever a behaviour is on, when the analysis stage runs."""
    p, a = config.service.preview, config.analysis
    b = a.behaviours
    behaviours = b.match.enabled or b.falls.enabled or b.reps.enabled
    if not a.enabled or not (p.zones or p.angles or behaviours):
        return None
    from edgepose.analysis.overlay import LiveOverlay
    from edgepose.analysis.stage import zone_of

    zones = [zone_of(z) for z in a.zones if z.camera in ("", config.source.camera)]
    return LiveOverlay(zones, p.zones, p.angles and a.angles, behaviours)


def camera_hook(camera: str, hook: ResultHook) -> ResultHook:
    """``hook`` for one camera's frames only (the preview shows one camera)."""

    def only(frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        if frame.camera == camera:
            hook(frame, result, document)

    return only


def resolve_source_uri(config: Config) -> str:
    """``auto``: the camera where there is one, else the manifest's sample image."""
    uri = config.source.uri
    if uri != "auto":
        return uri
    camera = detect_camera()
    if camera:
        return camera
    try:
        sample = locate(SAMPLE_SOURCE, model_dirs(config))
    except InputError:
        raise InputError(
            "source.uri is auto, there is no camera and the sample image is not present",
            f"set --source, or run `edgepose models fetch {SAMPLE_SOURCE}`",
        ) from None
    log.info("no camera found: using the sample image %s", sample)
    return str(sample)


def detect_camera() -> str | None:
    """``picamera2`` when picamera2 imports and lists a camera, else ``/dev/video0`` if present, else None."""
    from edgepose.errors import UnavailableError
    from edgepose.sources.picamera2 import Picamera2MissingError, import_picamera2, list_cameras

    try:
        if list_cameras(import_picamera2()):
            return "picamera2"
    except Picamera2MissingError as exc:  # not a Pi, or a USB camera only
        log.debug("no Pi camera: %s", exc)
    except UnavailableError as exc:  # installed but broken: say why rather than fall back in silence
        log.warning("the Pi camera is not usable: %s (%s)", exc.message, exc.hint)
    except (RuntimeError, OSError) as exc:  # libcamera is unhappy
        log.warning("the Pi camera is not usable: picamera2 cannot list cameras (%s)", exc)
    return "/dev/video0" if Path("/dev/video0").exists() else None


def build_source(
    config: Config,
    clocks: Clocks | None = None,
    health: Health | None = None,
    stats: RunStats | None = None,
    model_input: tuple[int, int] | None = None,
) -> Source:
    # Each camera reports its own health component (a camera's trouble is not the daemon's).
    component = f"camera {config.source.camera}"
    source = make_source(config.source, resolve_source_uri(config), clocks, health, stats, model_input, component)
    source.open()
    return source


def open_source(config: Config, health: Health, stats: RunStats, model_input: tuple[int, int] | None) -> Source:
    """The configured source, opened (:func:`build_source`): :class:`AppParts`' default source."""
    return build_source(config, health=health, stats=stats, model_input=model_input)


def default_tracking(config: Config) -> Tracking | None:
    """The configured tracking stage (None for ``tracking.tracker: none``)."""
    return make_tracker(config.tracking, config.decoder.min_keypoint_score)


def default_analysis(config: Config, stats: RunStats) -> AnalysisStage | None:
    """The configured analysis stage for the source's camera (None unless ``analysis.enabled``)."""
    return make_analysis(config, config.source.camera, stats=stats)


def behaviour_config(config: Config) -> tuple[object, ...]:
    """What the behaviours analyzer is built from: equal before and after a reload, it is kept."""
    a = config.analysis
    camera = config.source.camera  # a camera's own config (camera_configs)
    excluded = tuple(z.polygon for z in a.zones if z.name in a.behaviours.falls.exclude and z.camera in ("", camera))
    return a.enabled, a.behaviours, a.min_keypoint_score, excluded


class Successor:
    """A stage built by a reload that takes over its predecessor's zone state on its first frame.

    The stage is built on the main thread while its predecessor still runs. The pipeline hands
    every frame to the predecessor before the first one this stage sees (a Reconfigure applies at
    a frame boundary and frames are published in order, overlapped or not), so taking over on the
    first :meth:`apply`, on the inference thread, loses no frame of state.

    A zone keeps its state when a zone of the same name remains: who is inside, the debounce under
    way, the count, with the zone's new polygon, anchor rule and times from the next frame on. So an
    unchanged zone fires nothing, and a moved or reshaped one fires enter/leave only for the people
    whose side of its edge changed, after the usual ``enter_after``/``leave_after``. A new zone
    starts empty; a removed one ends without events (its retained state is cleared by the sinks).
    The behaviours' state (holds, falls, repetition counts) is kept by reusing the analyzer itself
    when its settings did not change (:meth:`App.build_analysis`), else it starts again.
    """

    def __init__(self, stage: AnalysisStage, previous: AnalysisStage | Successor | None) -> None:
        self.stage = stage
        self._previous = previous

    def apply(self, result: FrameResult, continuous: bool = True) -> FrameResult:
        if self._previous is not None:
            self.settle()
        return self.stage.apply(result, continuous)

    def settle(self) -> AnalysisStage:
        """Take over the predecessor's state now (once); the stage. Only on the inference thread,
        or before the pipeline runs."""
        previous, self._previous = self._previous, None
        if isinstance(previous, Successor):
            previous = previous.settle()
        if previous is not None:
            take_over_zones(previous, self.stage)
        return self.stage

    def reset(self) -> None:
        self._previous = None
        self.stage.reset()

    def reset_reps(self, track: int | None = None) -> bool:
        return self.stage.reset_reps(track)


def take_over_zones(previous: AnalysisStage, stage: AnalysisStage) -> None:
    """Each zone of ``stage`` that ``previous`` also had (by name) continues from its state there."""
    if previous.zones is None or stage.zones is None:
        return
    before = {t.zone.name: t for t in previous.zones.trackers}
    trackers = stage.zones.trackers
    for i, tracker in enumerate(trackers):
        old = before.get(tracker.zone.name)
        if old is not None:
            trackers[i] = dataclasses.replace(old, zone=tracker.zone)


@dataclass(frozen=True)
class AppParts:
    """How :class:`App` builds each part: the defaults read the config; tests replace one or two.

    ``model(config, health, stats)``: the loaded model (its engine in ``estimator.engine``).
    ``source(config, health, stats, model_input)``: an opened source; ``model_input`` is the
    model's (width, height), which sizes the Pi camera's ``lores`` stream.
    ``sink(spec, config, stats, commands)``: one sink of ``config.sinks``, not yet opened; the commands
    it receives go to ``commands``.
    ``tracking(config)``: the tracking stage, or None. ``analysis(config, stats)``: the analysis
    stage, or None (also what a reload of ``analysis`` builds). ``clock``: monotonic seconds for
    the pipeline, the preview and the service's watchdog.
    """

    model: Callable[[Config, Health, RunStats], Loaded] = build_estimator
    source: Callable[[Config, Health, RunStats, tuple[int, int] | None], Source] = open_source
    sink: Callable[[str, Config, RunStats, Commands], Sink] = make_sink
    tracking: Callable[[Config], Tracking | None] = default_tracking
    analysis: Callable[[Config, RunStats], AnalysisStage | None] = default_analysis
    clock: Callable[[], float] = time.monotonic


@dataclass
class App:
    """One run of edgepose: starts its parts in order, stops them in reverse.

    ``parts`` builds the model, source, sinks and tracking stage (see :class:`AppParts`);
    ``hooks`` are called after every processed frame (see :data:`edgepose.pipeline.runner.ResultHook`).
    """

    config: Config
    parts: AppParts = field(default_factory=AppParts)
    stats: RunStats = field(default_factory=RunStats)
    health: Health = field(default_factory=Health)
    hooks: list[ResultHook] = field(default_factory=list)
    loaded: Loaded | None = None
    sources: dict[str, Source] = field(default_factory=dict)  # every camera's, by name
    sinks: list[Sink] = field(default_factory=list)
    commands: Commands = field(default_factory=Commands)  # what the sinks receive, to each camera's stage
    pipeline: Pipeline | None = None
    # Every camera's analysis stage in effect, or queued by a reload.
    analyses: dict[str, AnalysisStage | Successor | None] = field(default_factory=dict)
    # Cameras a reload is restarting: the settings they come back with (the latest reload's).
    _restarts: dict[str, tuple[Config, Config]] = field(default_factory=dict)
    _restart_lock: threading.Lock = field(default_factory=threading.Lock)
    _stops: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    @property
    def clock(self) -> Callable[[], float]:
        return self.parts.clock

    def start(self) -> None:
        """Load the model, open the source and the sinks; on failure, undo what was started."""
        try:
            for name, step in (("model", self.start_model), ("source", self.start_source),
                               ("sinks", self.start_sinks), ("preview", self.start_preview),
                               ("pipeline", self.start_pipeline)):  # fmt: skip
                log.debug("starting %s", name)
                step()
        except BaseException:
            self.stop()
            raise

    def start_model(self) -> None:
        self.loaded = self.parts.model(self.config, self.health, self.stats)
        self._stops.append(("model", self.loaded.estimator.engine.close))

    def start_source(self) -> None:
        """Open every camera's source. Each must open: a camera missing at start is a configuration or
        hardware problem to hear about at once (afterwards a failing camera is retried on its own)."""
        for camera in camera_configs(self.config):
            self.open_camera(camera)

    def open_camera(self, camera: Config) -> Source:
        """Open one camera's source (at start, or for a camera a reload adds) and close it on stop."""
        spec = self.loaded.estimator.engine.input if self.loaded is not None else None
        model_input = (spec.shape[2], spec.shape[1]) if spec is not None else None  # (width, height)
        name = camera.source.camera
        known = name in self.stats.cameras
        stats = self.stats.camera(name)  # its reconnects, per camera
        try:
            source = self.parts.source(camera, self.health, stats, model_input)
        except BaseException as exc:
            if not known:  # a camera that never ran leaves no figures behind
                self.stats.drop_camera(name)
            if isinstance(exc, EdgeposeError) and len(camera.cameras) > 1:  # say which (the exit code stays)
                exc.camera = name
            raise
        self.sources[name] = source
        self._stops.append((f"source {name}", self.close_camera_source(name)))
        return source

    def close_camera_source(self, name: str) -> Callable[[], None]:
        """The stop step of a camera's source: closes the source open under ``name`` then (if any)."""

        def close() -> None:
            source = self.sources.pop(name, None)
            if source is not None:
                source.close()

        return close

    def _started(self, *parts: str) -> None:
        """Refuse a step taken out of order (a programming error, so it raises, never asserts)."""
        missing = [p for p in parts if getattr(self, p) is None]
        if missing:
            raise RuntimeError(f"App: {', '.join(missing)} not started; call start() first")

    def start_sinks(self) -> None:
        self._started("loaded")
        meta = meta_document(self.config, self.loaded)
        for spec in self.config.sinks:
            sink = self.parts.sink(spec, self.config, self.stats, self.commands)
            sink.open(meta)
            self.sinks.append(sink)
            self._stops.append((sink.name, sink.close))

    def start_preview(self) -> None:
        """The live preview page (``service.preview``), fed by a hook; off by default."""
        if not self.config.service.preview.enabled:
            return
        from edgepose.preview import PreviewServer

        shown = camera_config(self.config, self.config.service.preview.camera or camera_names(self.config)[0])
        overlay = preview_overlay(shown)
        preview = PreviewServer(self.config.service.preview, self.stats, self.clock, overlay=overlay)
        preview.start()
        self.hooks.append(camera_hook(shown.source.camera, preview.hook))
        self._stops.append(("preview", preview.stop))

    def start_pipeline(self) -> None:
        self._started("loaded")
        stamp = Stamp(self.config.device_id, self.loaded.model_name, self.loaded.accelerator)
        overlap = overlap_for(self.config.model.overlap, self.loaded.accelerator)
        lanes = [self.build_lane(camera) for camera in camera_configs(self.config)]
        self.pipeline = Pipeline(
            lanes, self.sinks, stamp, self.stats, self.clock, self.hooks, self.config.source.slot_size, overlap
        )

    def build_lane(self, camera: Config, config: Config | None = None) -> Lane:
        """One camera's stages on the shared engine: its source (opened), estimator, tracker, analysis.

        Each camera has an estimator of its own (:meth:`PoseEstimator.sibling`: crop region, buffers,
        its decoder settings) on the model's one engine, and its own figures (``RunStats.camera``),
        which count in the totals."""
        self._started("loaded")
        config = config or self.config  # the daemon's config the camera is part of (a reload's new one)
        name = camera.source.camera
        source = self.sources.get(name) or self.open_camera(camera)
        stats = self.stats.camera(name)
        estimator = self.loaded.estimator.sibling(camera.decoder, stats)
        analysis = self.parts.analysis(camera, stats)  # None unless enabled
        self.analyses[name] = analysis
        self._connect_commands(analysis, name)
        return Lane(
            name,
            source,
            estimator,
            stats,
            self.parts.tracking(camera),
            analysis,
            fps_cap(config, name),
            camera.source.slot_size,
        )

    def _connect_commands(self, analysis: AnalysisStage | Successor | None, camera: str) -> None:
        """Commands a sink receives for a camera (the MQTT reps reset topic) go to its stage."""
        if analysis is not None:
            self.commands.register(camera, analysis.reset_reps)

    def build_analysis(self, new: Config, camera: str | None = None) -> Successor | None:
        """The stage ``new.analysis`` asks for on ``camera`` (None: the first), to replace the one in
        effect (a reload); built here, off the inference thread, so one that cannot be built (an empty
        pose library) raises :class:`~edgepose.errors.ConfigError` and changes nothing. See
        :class:`Successor` for the state it carries over."""
        name = camera or camera_configs(self.config)[0].source.camera
        new_camera = camera_config(new, name)
        stage = self.parts.analysis(new_camera, self.stats.camera(name))
        if stage is None:
            return None
        current = self.analyses.get(name)
        kept = current.stage if isinstance(current, Successor) else current
        try:
            same_behaviours = behaviour_config(camera_config(self.config, name)) == behaviour_config(new_camera)
        except KeyError:  # a camera this reload adds
            same_behaviours = False
        if kept is not None and kept.behaviours is not None and stage.behaviours is not None and same_behaviours:
            analyzers = [kept.behaviours if a is stage.behaviours else a for a in stage.analyzers]
            stage = AnalysisStage(analyzers, stage.min_keypoint_score, stage.stats)
        return Successor(stage, current)

    def reload_requests(self, new: Config, decoder: bool, tracking: bool, analysis: bool,
                        cameras: bool) -> list[Request]:  # fmt: skip
        """What the running pipeline must change for ``new``, built here before anything is queued.

        Per camera: a new decoder setup, tracker or analysis stage (:class:`Reconfigure` for that
        camera); a camera that is new is opened and built now (:class:`AddCamera`), one that is gone
        is removed (:class:`RemoveCamera`); a camera whose source or fps cap changed is restarted
        alone: removed, and opened again once its old source is closed (the device is free then). An
        :class:`~edgepose.errors.EdgeposeError` (a new camera that cannot be opened, an empty pose
        library) propagates before anything is queued, so the service stays as it was."""
        self._started("loaded")
        old_cameras = {c.source.camera: c for c in camera_configs(self.config)}
        new_cameras = {c.source.camera: c for c in camera_configs(new)}
        requests: list[Request] = []
        added: list[AddCamera] = []
        try:
            for name, camera in new_cameras.items():
                self._plan_camera(name, camera, old_cameras.get(name), new, decoder, tracking, analysis, cameras,
                                  requests, added)  # fmt: skip
        except BaseException:  # the reload fails as a whole: what was opened for it is closed again
            for request in added:
                self._camera_removed(request.lane)
                self.analyses.pop(request.lane.name, None)
            raise
        if cameras:
            gone = [name for name in old_cameras if name not in new_cameras]
            with self._restart_lock:
                for name in gone:  # one still restarting stays closed (its removal ends the restart)
                    self._restarts.pop(name, None)
            requests += [RemoveCamera(name, self._camera_removed) for name in gone]
        return requests + added

    def _plan_camera(self, name: str, camera: Config, before: Config | None, new: Config, decoder: bool,
                     tracking: bool, analysis: bool, cameras: bool, requests: list[Request],
                     added: list[AddCamera]) -> None:  # fmt: skip
        """What one camera of ``new`` needs (see :meth:`reload_requests`), appended to ``requests`` or ``added``."""
        with self._restart_lock:
            if name in self._restarts:  # restarting: it comes back with these settings
                self._restarts[name] = (camera, new)
                return
        lane = self.pipeline.lane(name) if self.pipeline is not None else None
        running = lane is not None or (self.pipeline is not None and self.pipeline.adding(name))
        if before is None or (cameras and not running and self.pipeline is not None):
            # new, or not running (its restart failed): opened and added now
            if cameras:
                added.append(AddCamera(self.build_lane(camera, new)))
                self.health.forget(f"camera {name}")
            return
        if cameras and (before.source != camera.source or fps_cap(self.config, name)
                                    != fps_cap(new, name)):  # fmt: skip
            with self._restart_lock:
                self._restarts[name] = (camera, new)
            requests.append(RemoveCamera(name, self._reopen(name), restart=True))
            return
        estimator = lane.estimator if lane is not None else self.loaded.estimator
        change = Reconfigure(
            decoder=estimator.setup_for(camera.decoder) if decoder and before.decoder != camera.decoder else None,
            tracking=self.parts.tracking(camera) if tracking and before.tracking != camera.tracking else KEEP,
            analysis=self.build_analysis(new, name) if analysis else KEEP,
            camera=name,
        )
        if change != Reconfigure(camera=change.camera):
            requests.append(change)

    def _camera_removed(self, lane: Lane) -> None:
        """After a removed camera's capture ended: close its source, drop its figures and health."""
        if self.sources.get(lane.name) is lane.source:
            self.sources.pop(lane.name)
        try:
            lane.source.close()
        except Exception as exc:  # one line, as in stop(): the other cameras go on
            log.error("error while closing camera %s: %s: %s", lane.name, type(exc).__name__, exc)
        self.stats.drop_camera(lane.name)
        self.health.forget(f"camera {lane.name}")

    def _reopen(self, name: str) -> Callable[[Lane], None]:
        """The second half of a camera's restart, once its old source is closed: open it with the
        settings of the latest reload (``_restarts``: a reload while it restarts only updates them) and
        add it again. If it cannot be opened it stays out, said in the log and in health; if a reload
        removed it meanwhile, it stays closed."""

        def reopen(lane: Lane) -> None:
            self._camera_removed(lane)
            with self._restart_lock:  # against a reload planning this camera now
                pending = self._restarts.pop(name, None)
                if pending is None or self.pipeline is None:
                    return
                camera, new = pending
                try:
                    fresh = self.build_lane(camera, new)
                except Exception as exc:
                    why = exc.message if isinstance(exc, EdgeposeError) else f"{type(exc).__name__}: {exc}"
                    log.error("camera %s could not be restarted with its new settings: %s", name, why)
                    self.health.unhealthy(f"camera {name}", f"not running: {why} (fix the config and reload)")
                    self.pipeline.request(AbandonCamera(name, exc))  # with no camera left the run ends
                    return
                self.pipeline.request(AddCamera(fresh))

        return reopen

    def after_reload(self, new: Config, requests: list[Request], announce: bool) -> None:
        """The reload's requests were queued: point commands at the new stages and, when ``announce``
        (the analysis or the cameras changed), tell the sinks: the stream sinks' event lines, the MQTT
        sink's topics, announcements (``meta``, zone and fall entities) and retained states
        (:class:`~edgepose.documents.output.Reloaded`)."""
        first = camera_configs(new)[0].source.camera
        for request in requests:
            if isinstance(request, Reconfigure) and request.analysis is not KEEP:
                name = request.camera or first
                self.analyses[name] = request.analysis
                self._connect_commands(request.analysis, name)
            elif isinstance(request, RemoveCamera):
                self.analyses.pop(request.name, None)
                self.commands.forget(request.name)
        if announce:
            meta = meta_document(new, self.loaded) if self.loaded is not None else {}
            for sink in self.sinks:
                sink.write(Reloaded(new, meta))

    def run(
        self, max_frames: int | None = None, stop: threading.Event | None = None, duration: float | None = None
    ) -> RunStats:
        """Run the pipeline until the source ends, a limit is reached or ``stop`` is set.

        Ends by naming what failed (the warnings along the way are rate-limited). A run that ended
        by itself without processing a frame raises :class:`InputError`: it was asked for frames.
        """
        self._started("pipeline")
        stop = stop or threading.Event()
        try:
            stats = self.pipeline.run(max_frames=max_frames, stop=stop, duration=duration)
        finally:
            if self.stats.failed:
                log.warning("%s", self.stats.failure_summary(), extra=ONCE_EACH)
        if stats.processed == 0 and not stop.is_set():
            why = f"{stats.failed} failed" if stats.failed else "the source gave none"
            where = ", ".join(c.source.uri for c in camera_configs(self.config))
            raise InputError(f"no frame was processed from {where}: {why}")
        return stats

    def stop(self) -> None:
        """Stop what was started, newest first; one part failing to stop does not keep others open."""
        while self._stops:
            name, stop = self._stops.pop()
            try:
                stop()
            except Exception as exc:  # one line (the traceback with -v), and go on closing the rest
                log.error("error while stopping %s: %s: %s", name, type(exc).__name__, exc)
                log.debug("while stopping %s", name, exc_info=True)


def run(
    config: Config, max_frames: int | None = None, stop: threading.Event | None = None, duration: float | None = None
) -> RunStats:
    """Run the pipeline to the end of the source (or ``max_frames``, ``duration`` s), closing everything after."""
    app = App(config)
    app.start()
    try:
        return app.run(max_frames=max_frames, stop=stop, duration=duration)
    finally:
        app.stop()
