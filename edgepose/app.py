"""Assembling a run from the config: model, estimator, source, sinks, pipeline.

:class:`App` starts its parts as a list of named steps and stops them in reverse, so the service
layer, the benchmark and tests can reuse the steps they need. Each part is built by a factory of
:class:`AppParts`, so a test replaces a part (a gated source, a wrapped engine) without
subclassing :class:`App`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgepose.analysis.commands import Commands
from edgepose.analysis.stage import AnalysisStage, make_analysis
from edgepose.analysis.successor import Successor
from edgepose.config.cameras import camera_config, camera_configs, camera_names, fps_cap
from edgepose.config.sections import Config
from edgepose.decode.blazepose.outputs import matches_landmarks
from edgepose.documents.meta import meta_document
from edgepose.documents.poses import Stamp
from edgepose.errors import EdgeposeError, InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.inference.accelerator import EngineChoice, open_engine
from edgepose.logs import ONCE_EACH
from edgepose.modelstore.locate import locate, search_dirs
from edgepose.pipeline.lanes import Lane, Tracking
from edgepose.pipeline.runner import Pipeline, ResultHook, overlap_for
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
    log.info(
        "model %s on %s (%d threads), input %s, format %s",
        name,
        choice.accelerator,
        config.model.threads,
        list(choice.engine.input.shape),
        estimator.decoder.format,
    )
    return Loaded(estimator, name, path, choice.accelerator, choice.fallback)


def make_estimator(choice: EngineChoice, config: Config, stats: RunStats | None = None) -> Estimator:
    """The estimator for the model's outputs: BlazePose's two stages for a BlazePose landmark model
    (its detector found by :func:`~edgepose.estimation.blazepose.find_detector`), else one model and
    the decoder its outputs choose."""
    name = choice.model_path.stem
    engine = choice.engine
    if matches_landmarks(engine.outputs, engine.input):
        from edgepose.estimation.blazepose import BlazePoseEstimator, find_detector, open_detector
        from edgepose.inference.densify import wants_dense

        detector_path = find_detector(choice.model_path, config.model.detector, model_dirs(config))
        dense = wants_dense(config.model.sparse_weights)
        detector = open_detector(detector_path, config.model.threads, config.model.cache_dir if dense else None)
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
    _stops: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    @property
    def clock(self) -> Callable[[], float]:
        return self.parts.clock

    def start(self) -> None:
        """Load the model, open the source and the sinks; on failure, undo what was started."""
        try:
            for name, step in (
                ("model", self.start_model),
                ("source", self.start_source),
                ("sinks", self.start_sinks),
                ("preview", self.start_preview),
                ("pipeline", self.start_pipeline),
            ):
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

    def camera_removed(self, lane: Lane) -> None:
        """After a removed camera's capture ended: close its source, drop its figures and health."""
        if self.sources.get(lane.name) is lane.source:
            self.sources.pop(lane.name)
        try:
            lane.source.close()
        except Exception as exc:  # one line, as in stop(): the other cameras go on
            log.error("error while closing camera %s: %s: %s", lane.name, type(exc).__name__, exc)
        self.stats.drop_camera(lane.name)
        self.health.forget(f"camera {lane.name}")

    def close_camera_source(self, name: str) -> Callable[[], None]:
        """The stop step of a camera's source: closes the source open under ``name`` then (if any)."""

        def close() -> None:
            source = self.sources.pop(name, None)
            if source is not None:
                source.close()

        return close

    def require(self, *parts: str) -> None:
        """Refuse a step taken out of order (a programming error, so it raises, never asserts)."""
        missing = [p for p in parts if getattr(self, p) is None]
        if missing:
            raise RuntimeError(f"App: {', '.join(missing)} not started; call start() first")

    def start_sinks(self) -> None:
        self.require("loaded")
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
        self.require("loaded")
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
        self.require("loaded")
        config = config or self.config  # the daemon's config the camera is part of (a reload's new one)
        name = camera.source.camera
        source = self.sources.get(name) or self.open_camera(camera)
        stats = self.stats.camera(name)
        estimator = self.loaded.estimator.sibling(camera.decoder, stats)
        analysis = self.parts.analysis(camera, stats)  # None unless enabled
        self.analyses[name] = analysis
        self.connect_commands(analysis, name)
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

    def connect_commands(self, analysis: AnalysisStage | Successor | None, camera: str) -> None:
        """Commands a sink receives for a camera (the MQTT reps reset topic) go to its stage."""
        if analysis is not None:
            self.commands.register(camera, analysis.reset_reps)

    def run(
        self, max_frames: int | None = None, stop: threading.Event | None = None, duration: float | None = None
    ) -> RunStats:
        """Run the pipeline until the source ends, a limit is reached or ``stop`` is set.

        Ends by naming what failed (the warnings along the way are rate-limited). A run that ended
        by itself without processing a frame raises :class:`InputError`: it was asked for frames.
        """
        self.require("pipeline")
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
