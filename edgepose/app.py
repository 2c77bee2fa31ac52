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
from typing import TYPE_CHECKING

from edgepose.analysis.stage import AnalysisStage, make_analysis
from edgepose.config.sections import Config
from edgepose.documents.meta import meta_document
from edgepose.documents.poses import Stamp
from edgepose.errors import InputError
from edgepose.estimator import PoseEstimator
from edgepose.health import Health
from edgepose.inference.accelerator import open_engine
from edgepose.logs import ONCE_EACH
from edgepose.modelstore.locate import locate, search_dirs
from edgepose.pipeline import Pipeline, ResultHook, Tracking, overlap_for
from edgepose.pose import FrameResult
from edgepose.sinks import Sink, make_sink
from edgepose.sources import Source, make_source
from edgepose.sources.base import Clocks
from edgepose.stats import RunStats
from edgepose.tracking import make_tracker

if TYPE_CHECKING:  # drawing (OpenCV) is imported only where the preview asks for it
    from edgepose.analysis.overlay import LiveOverlay

log = logging.getLogger(__name__)

SAMPLE_SOURCE = "squat"  # the manifest's sample image for machines without a camera


@dataclass
class Loaded:
    """A model ready to run, and how to describe it."""

    estimator: PoseEstimator
    model_name: str
    model_path: Path
    accelerator: str
    fallback: str = ""  # why the CPU runs although the Edge TPU was asked for ("" when it was not)


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
    estimator = PoseEstimator(choice.engine, config.decoder, model_name=name, model_options=choice.decoder_options,
                              resize=config.model.resize, stats=stats)  # fmt: skip
    log.info("model %s on %s (%d threads), input %s, format %s", name, choice.accelerator,
             config.model.threads, list(choice.engine.input.shape), estimator.decoder.format)  # fmt: skip
    return Loaded(estimator, name, path, choice.accelerator, choice.fallback)


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
    source = make_source(config.source, resolve_source_uri(config), clocks, health, stats, model_input)
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
    camera = config.source.camera
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
    ``sink(spec, config, stats)``: one sink of ``config.sinks``, not yet opened.
    ``tracking(config)``: the tracking stage, or None. ``analysis(config, stats)``: the analysis
    stage, or None (also what a reload of ``analysis`` builds). ``clock``: monotonic seconds for
    the pipeline, the preview and the service's watchdog.
    """

    model: Callable[[Config, Health, RunStats], Loaded] = build_estimator
    source: Callable[[Config, Health, RunStats, tuple[int, int] | None], Source] = open_source
    sink: Callable[[str, Config, RunStats], Sink] = make_sink
    tracking: Callable[[Config], Tracking | None] = default_tracking
    analysis: Callable[[Config, RunStats], AnalysisStage | None] = default_analysis
    clock: Callable[[], float] = time.monotonic


@dataclass
class App:
    """One run of edgepose: starts its parts in order, stops them in reverse.

    ``parts`` builds the model, source, sinks and tracking stage (see :class:`AppParts`);
    ``hooks`` are called after every processed frame (see :data:`edgepose.pipeline.ResultHook`).
    """

    config: Config
    parts: AppParts = field(default_factory=AppParts)
    stats: RunStats = field(default_factory=RunStats)
    health: Health = field(default_factory=Health)
    hooks: list[ResultHook] = field(default_factory=list)
    loaded: Loaded | None = None
    source: Source | None = None
    sinks: list[Sink] = field(default_factory=list)
    pipeline: Pipeline | None = None
    analysis: AnalysisStage | Successor | None = None  # the stage in effect, or queued by the last reload
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
        spec = self.loaded.estimator.engine.input if self.loaded is not None else None
        model_input = (spec.shape[2], spec.shape[1]) if spec is not None else None  # (width, height)
        self.source = self.parts.source(self.config, self.health, self.stats, model_input)
        self._stops.append(("source", self.source.close))

    def _started(self, *parts: str) -> None:
        """Refuse a step taken out of order (a programming error, so it raises, never asserts)."""
        missing = [p for p in parts if getattr(self, p) is None]
        if missing:
            raise RuntimeError(f"App: {', '.join(missing)} not started; call start() first")

    def start_sinks(self) -> None:
        self._started("loaded")
        meta = meta_document(self.config, self.loaded)
        for spec in self.config.sinks:
            sink = self.parts.sink(spec, self.config, self.stats)
            sink.open(meta)
            self.sinks.append(sink)
            self._stops.append((sink.name, sink.close))

    def start_preview(self) -> None:
        """The live preview page (``service.preview``), fed by a hook; off by default."""
        if not self.config.service.preview.enabled:
            return
        from edgepose.preview import PreviewServer

        overlay = preview_overlay(self.config)
        preview = PreviewServer(self.config.service.preview, self.stats, self.clock, overlay=overlay)
        preview.start()
        self.hooks.append(preview.hook)
        self._stops.append(("preview", preview.stop))

    def start_pipeline(self) -> None:
        self._started("loaded", "source")
        stamp = Stamp(self.config.device_id, self.loaded.model_name, self.loaded.accelerator)
        tracking = self.parts.tracking(self.config)
        overlap = overlap_for(self.config.model.overlap, self.loaded.accelerator)
        analysis = self.analysis = self.parts.analysis(self.config, self.stats)  # None unless enabled
        self._connect_commands(analysis)
        self.pipeline = Pipeline(self.source, self.loaded.estimator, self.sinks, stamp, self.stats,
                                 self.clock, self.hooks, tracking, self.config.source.slot_size, overlap,
                                 analysis=analysis)  # fmt: skip

    def _connect_commands(self, analysis: AnalysisStage | Successor | None) -> None:
        """Commands a sink receives (the MQTT reps reset topic) go to the stage."""
        if analysis is None:
            return
        for sink in self.sinks:
            sink.on_reps_reset(analysis.reset_reps)

    def build_analysis(self, new: Config) -> Successor | None:
        """The stage ``new.analysis`` asks for, to replace the one of ``self.config`` (a reload); built
        here, off the inference thread, so one that cannot be built (an empty pose library) raises
        :class:`~edgepose.errors.ConfigError` and changes nothing. See :class:`Successor` for the state
        it carries over."""
        stage = self.parts.analysis(new, self.stats)
        if stage is None:
            return None
        current = self.analysis
        kept = current.stage if isinstance(current, Successor) else current
        if kept is not None and kept.behaviours is not None and stage.behaviours is not None \
                and behaviour_config(self.config) == behaviour_config(new):  # fmt: skip
            analyzers = [kept.behaviours if a is stage.behaviours else a for a in stage.analyzers]
            stage = AnalysisStage(analyzers, stage.min_keypoint_score, self.stats)
        return Successor(stage, current)

    def use_analysis(self, analysis: Successor | None, new: Config) -> None:
        """A stage from :meth:`build_analysis` was queued for the pipeline (``Reconfigure(analysis=)``):
        point the commands at it and tell the sinks: the stream sinks' event lines, the MQTT sink's
        announcements (``meta``, zone and fall entities) and retained states
        (:meth:`~edgepose.sinks.mqtt.MqttSink.reload`)."""
        self.analysis = analysis
        self._connect_commands(analysis)
        meta = meta_document(new, self.loaded) if self.loaded is not None else {}
        for sink in self.sinks:
            sink.reload(new, meta)

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
            raise InputError(f"no frame was processed from {self.config.source.uri}: {why}")
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
