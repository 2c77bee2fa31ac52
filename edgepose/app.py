"""Assembling a run from the config: model, estimator, source, sinks, pipeline.

Each ``build_*`` step is small and named, so the service layer and the benchmark can reuse the
ones they need and tests can replace any part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepose import __version__
from edgepose.config.sections import Config
from edgepose.document import Stamp
from edgepose.errors import InputError
from edgepose.estimator import PoseEstimator
from edgepose.inference.accelerator import open_engine
from edgepose.keypoints import KEYPOINT_NAMES, SKELETON
from edgepose.modelstore.locate import locate, search_dirs
from edgepose.pipeline import Pipeline
from edgepose.sinks import Sink, make_sink
from edgepose.sources import Source, make_source
from edgepose.sources.base import Clocks
from edgepose.stats import RunStats

log = logging.getLogger(__name__)

SAMPLE_SOURCE = "squat"  # the manifest's sample image for machines without a camera


@dataclass
class Loaded:
    """A model ready to run, and how to describe it."""

    estimator: PoseEstimator
    model_name: str
    model_path: Path
    accelerator: str


def model_dirs(config: Config) -> list[Path]:
    return search_dirs(config.model.dirs, config.model.cache_dir)


def build_estimator(config: Config) -> Loaded:
    path = locate(config.model.name, model_dirs(config))
    choice = open_engine(path, config.model)
    name = path.stem
    estimator = PoseEstimator(choice.engine, config.decoder, model_name=name)
    log.info("model %s on %s (%d threads), input %s, format %s", name, choice.accelerator,
             config.model.threads, list(choice.engine.input.shape), estimator.decoder.format)  # fmt: skip
    return Loaded(estimator, name, path, choice.accelerator)


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
    """A camera source uri when one is attached, else None (no camera sources in this build yet)."""
    return None


def build_source(config: Config, clocks: Clocks | None = None) -> Source:
    source = make_source(config.source, resolve_source_uri(config), clocks)
    source.open()
    return source


def build_sinks(config: Config) -> list[Sink]:
    return [make_sink(spec, config) for spec in config.sinks]


def meta_document(config: Config, loaded: Loaded) -> dict[str, Any]:
    """What a new subscriber needs to interpret poses (published retained as ``meta``)."""
    spec = loaded.estimator.engine.input
    return {
        "schema": "edgepose.meta/1",
        "version": __version__,
        "device": config.device_id,
        "camera": config.source.camera,
        "model": loaded.model_name,
        "format": loaded.estimator.decoder.format,
        "accelerator": loaded.accelerator,
        "threads": config.model.threads,
        "input_size": [spec.shape[2], spec.shape[1]],
        "keypoints": list(KEYPOINT_NAMES),
        "skeleton": [list(e) for e in SKELETON],
    }


def run(config: Config, max_frames: int | None = None, stop: Any = None) -> RunStats:
    """Run the pipeline to the end of the source (or ``max_frames``), closing everything after."""
    loaded = build_estimator(config)
    source = build_source(config)
    sinks: list[Sink] = []
    try:
        meta = meta_document(config, loaded)
        for spec in config.sinks:
            sink = make_sink(spec, config)
            sink.open(meta)
            sinks.append(sink)
        stamp = Stamp(config.device_id, loaded.model_name, loaded.accelerator)
        pipeline = Pipeline(source, loaded.estimator, sinks, stamp)
        return pipeline.run(max_frames=max_frames, stop=stop)
    finally:
        for sink in sinks:
            sink.close()
        source.close()
