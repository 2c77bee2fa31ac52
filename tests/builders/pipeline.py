"""Parts to drive a :class:`Pipeline` or an :class:`App` in a test: a sink that keeps its documents,
clocks that stamp frames 40 ms apart, a tracking stage that records what it saw, a cameras config file,
and a video's first frames."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgepose.app import App, AppParts, build_source
from edgepose.config.sections import Config
from edgepose.documents.output import FrameOutput, Output
from edgepose.documents.poses import Stamp
from edgepose.health import Health
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Pipeline
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.sources.base import Clocks, Source
from edgepose.stats import RunStats
from edgepose.tracking import make_tracker


class ListSink(Sink):
    """A sink that keeps every document it is given, in order."""

    name = "list"

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.dropped = 0

    def open(self, meta: dict[str, Any]) -> None:
        pass

    def write(self, output: Output) -> None:
        if isinstance(output, FrameOutput):
            self.documents.append(output.document)

    def close(self) -> None:
        pass


def make(loaded, config, source, sinks=(), hooks=(), stats=None) -> Pipeline:
    """A pipeline of one source on ``loaded``'s estimator with ``config``'s tracking, stamped ``test``."""
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    lane = Lane("cam0", source, loaded.estimator, tracking=tracking)
    return Pipeline([lane], list(sinks), Stamp("test", loaded.model_name, "cpu"), stats or RunStats(), hooks=hooks)


def video_clocks() -> Clocks:
    """Frames stamped 40 ms apart whenever they are read, so One Euro smooths alike in every run."""
    ticks = itertools.count()
    mono = lambda: next(ticks) * 0.04  # noqa: E731 - a clock is a callable
    return Clocks(wall=mono, mono=mono)


class Recorder:
    """A tracking stage that notes the frames it saw, and their cameras (and leaves them as they are)."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.cameras: list[str] = []

    def __call__(self, result: FrameResult) -> FrameResult:
        self.frames.append(result.frame_index)
        self.cameras.append(result.camera)
        return result

    def reset(self) -> None:
        pass


def steady_source(config: Config, health: Health, stats: RunStats, model_input: tuple[int, int] | None) -> Source:
    """The configured source, with frames stamped on a clock of their own (see :func:`video_clocks`)."""
    return build_source(config, video_clocks(), health, stats, model_input)


class Collect(Sink):
    """Every document an App's sinks got, shared by the sinks of one run."""

    name = "collect"
    dropped = 0

    def __init__(self, into: list[dict[str, Any]]) -> None:
        self.into = into

    def write(self, output: Output) -> None:
        if isinstance(output, FrameOutput):
            self.into.append(output.document)


def run_app(config: Config, max_frames: int) -> tuple[list[dict[str, Any]], App]:
    """Run an App on ``config`` (sources on :func:`video_clocks`) for ``max_frames`` frames per camera:
    the documents its sinks got, and the App (stopped)."""
    documents: list[dict[str, Any]] = []
    parts = AppParts(source=steady_source, sink=lambda spec, config, stats, commands: Collect(documents))
    app = App(config, parts)
    app.start()
    try:
        app.run(max_frames=max_frames)
    finally:
        app.stop()
    return documents, app


def poses_of(documents: list[dict[str, Any]], camera: str) -> list[Any]:
    """A camera's documents as what a subscriber compares: frame number and poses (no timings)."""
    return [(d["frame"], d["poses"]) for d in documents if d["camera"] == camera]


def cameras_yaml(tmp_path: Path, cameras: dict[str, str], *extra: str, model: str = "movenet_lightning_int8") -> Path:
    """An edgepose.yaml in ``tmp_path`` with ``cameras`` (name: uri, each looping), ``model`` and ``extra`` lines."""
    lines = ["sinks: [stdout]", f"model: {{name: {model}, threads: 2}}", "cameras:"]
    lines += [f"  {name}: {{source: {{uri: '{uri}', loop: true}}}}" for name, uri in cameras.items()]
    path = tmp_path / "edgepose.yaml"
    path.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return path


def video_frames(path: Path, count: int, crop: tuple[int, int, int] | None = None) -> list[np.ndarray]:
    """The video's first ``count`` frames as RGB; ``crop`` (x, y, side): a square of each (people seen larger)."""
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if crop is not None:
            x, y, side = crop
            rgb = np.ascontiguousarray(rgb[y : y + side, x : x + side])
        frames.append(rgb)
    capture.release()
    return frames
