"""BlazePose on frames: the detector finds a person, the landmark model reads a rotated crop.

:class:`BlazePoseEstimator` has :class:`~edgepose.estimation.estimator.PoseEstimator`'s interface, so the
pipeline, the app, the benchmark and the evaluation run it unchanged. Its ``engine`` is the
LANDMARK model's: the pipeline invokes it (serially or on the accelerator's worker thread). The
detector is the first stage, run synchronously inside :meth:`~BlazePoseEstimator.prepare` only
when no region is carried from the previous frame: on a still image always, on video when the
last frame's pose flag dropped below the threshold. Otherwise the region comes from the last
frame's auxiliary landmarks 33-34, which is where MediaPipe gets its speed.

The single-image path is MediaPipe's ``Pose(static_image_mode=True)``: detector input letterboxed
with zeros (-1), weighted NMS, the first detection's rotated square scaled 1.25, a 256 crop with
replicated border, 9x9 heatmap refinement, mapping back (:mod:`edgepose.decode.blazepose`). The
document keeps the 17 COCO keypoints (landmarks 0, 2, 5, 7, 8, 11-16, 23-28; score = visibility)
and adds the 33 ``landmarks`` and the ``world`` landmarks. The segmentation output is ignored: the
CPU engine loads the model without it and the operators only it needs (:mod:`edgepose.inference.unread`).

The pipeline invokes the estimator's engine once a frame. When the detector finds nobody there
is nothing for the landmark model to read: the engine (:class:`LandmarkEngine`, around the
supervised one) answers that frame's invoke at once without running the model, as MediaPipe
skips it, and the next frame runs the detector again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.blazepose.anchors import POSE_DETECTOR, ssd_anchors
from edgepose.decode.blazepose.detection import (
    POSE_DETECTOR_OPTIONS,
    DetectorOptions,
    decode_detections,
    to_source,
    weighted_nms,
)
from edgepose.decode.blazepose.landmarks import AUXILIARY, COCO_LANDMARKS, NUM_LANDMARKS
from edgepose.decode.blazepose.outputs import (
    FORMAT,
    LandmarkLayout,
    LandmarkResult,
    checked_flag,
    decode_outputs,
    decode_points,
    detector_layout,
)
from edgepose.decode.blazepose.outputs import landmark_layout as find_landmark_layout
from edgepose.decode.blazepose.region import RotatedRect, rect_from_points, warp
from edgepose.errors import InputError
from edgepose.estimation.buffers import TurnBuffers
from edgepose.estimation.estimator import ReadsSetup
from edgepose.estimation.preprocess import full_region
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine
from edgepose.inference.supervisor import Chained, InFlight
from edgepose.pose import FrameResult, Pose, Timing, box_from_keypoints

if TYPE_CHECKING:
    from edgepose.stats import RunStats

log = logging.getLogger(__name__)

DETECTOR_FILE = "pose_detection.tflite"
DEFAULT_MIN_POSE_SCORE = 0.5  # MediaPipe's pose-flag threshold: below it there is no pose
MIN_REGION_SIDE = 4.0  # pixels: a carried region smaller than this is dropped (the detector runs)


class DetectorMissingError(InputError):
    """A BlazePose landmark model was given but its person detector cannot be found."""


class LandmarkEngine:
    """The landmark model's engine, which does not run the model for a frame without a region.

    An invoke of :attr:`no_region` (what :meth:`BlazePoseEstimator.prepare` hands over when the
    detector found nobody) returns zeroed outputs at once; any other tensor, and every other
    attribute (``input``, ``outputs``, ``accelerator``, ``close``, ...), is the wrapped engine's.
    """

    def __init__(self, engine: InferenceEngine) -> None:
        self.inner = engine
        # Zeros of the right shapes that take no memory (one element, broadcast, read-only).
        self.no_region = np.broadcast_to(np.zeros((), engine.input.dtype), engine.input.shape)
        self._nothing = [np.broadcast_to(np.zeros((), o.dtype), o.shape) for o in engine.outputs]

    def __getattr__(self, name: str) -> object:
        inner = self.__dict__.get("inner")  # absent while a copy is being built: no recursion
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        if tensor is self.no_region:
            return self._nothing
        return self.inner.invoke(tensor)


class BackgroundLandmarkEngine(LandmarkEngine):
    """:class:`LandmarkEngine` around an engine that also invokes in the background (``start``/``collect``)."""

    def start(self, tensor: np.ndarray, confirm: bool = False) -> InFlight:
        if tensor is not self.no_region:
            return self.inner.start(tensor, confirm)  # type: ignore[attr-defined]
        done: Future[list[np.ndarray]] = Future()
        done.set_result(self._nothing)
        now = time.perf_counter()
        return _NoInvoke(done, [now, now])

    def collect(self, flight: InFlight) -> list[np.ndarray]:
        if isinstance(flight, _NoInvoke):
            return flight.future.result()
        outputs = self.inner.collect(flight)  # type: ignore[attr-defined]
        if outputs is None and isinstance(flight, _Chained):  # made no input: a frame without a region
            return self._nothing
        return outputs


class ChainingLandmarkEngine(BackgroundLandmarkEngine):
    """:class:`BackgroundLandmarkEngine` around an engine that also chains invokes (the supervisor's)."""

    def chain(self, previous: InFlight, make: Callable[[list[np.ndarray]], np.ndarray | None]) -> Chained:
        """The wrapped engine's chained invoke (the exact region on the worker, as MoveNet's crop);
        a frame without a region (``make`` gives :attr:`no_region`) is not invoked there either."""

        def made(outputs: list[np.ndarray]) -> np.ndarray | None:
            tensor = make(outputs)
            return None if tensor is self.no_region else tensor

        chained: Chained = self.inner.chain(previous, made)  # type: ignore[attr-defined]
        return Chained(_Chained(chained.flight.future, chained.flight.stamps), chained.began)


class _NoInvoke(InFlight):
    """An invoke that was not run (a frame without a region)."""


class _Chained(InFlight):
    """An invoke chained on the wrapped engine (its result is None when the frame had no region)."""


def landmark_engine(engine: InferenceEngine) -> LandmarkEngine:
    """``engine`` wrapped in the :class:`LandmarkEngine` that fits it (itself when it is one already)."""
    if isinstance(engine, LandmarkEngine):
        return engine
    if callable(getattr(engine, "start", None)) and callable(getattr(engine, "collect", None)):
        if callable(getattr(engine, "chain", None)):
            return ChainingLandmarkEngine(engine)
        return BackgroundLandmarkEngine(engine)
    return LandmarkEngine(engine)


class BlazePoseDecoder:
    """What the pipeline, ``meta`` and the benchmark read of a decoder: the format and the outputs not read."""

    format = FORMAT
    multi_person = False

    def __init__(self, layout: LandmarkLayout, ignored_outputs: tuple[str, ...]) -> None:
        self.layout = layout
        self.ignored_outputs = ignored_outputs

    def input_size_for(self, width: int, height: int) -> tuple[int, int] | None:
        return None  # the landmark model's input is fixed


@dataclass(frozen=True)
class BlazePoseSetup:
    """A decoder and its settings (the fields of :class:`~edgepose.estimation.estimator.DecoderSetup`);
    a reload replaces both.

    ``uses_crop_region`` is True: on video the next frame's region comes from this frame's
    landmarks, so the overlapped pipeline decodes a frame before it cuts the next.
    """

    decoder: BlazePoseDecoder
    config: DecoderConfig
    gate: None = None  # the plausibility gate is for stitched multi-person poses; BlazePose has one person
    uses_crop_region: bool = True

    @property
    def min_pose_score(self) -> float:
        configured = self.config.min_pose_score
        return DEFAULT_MIN_POSE_SCORE if configured is None else configured


@dataclass(frozen=True, slots=True)
class BlazePrepared:
    """A frame's landmark-model input and where it was cut (``rect`` None: nobody found, outputs ignored)."""

    frame: Frame
    setup: BlazePoseSetup
    rect: RotatedRect | None
    tensor: np.ndarray
    preprocess_ms: float
    continuous: bool = False
    detected: bool = False  # the detector ran for this frame


class PoseDetector:
    """The first stage: the person detector's engine, its anchors, and the region of the best person.

    One detector may serve several cameras' estimators; a lock keeps its invokes apart.
    """

    def __init__(
        self, engine: InferenceEngine, options: DetectorOptions = POSE_DETECTOR_OPTIONS, name: str = DETECTOR_FILE
    ) -> None:
        layout = detector_layout(engine.outputs, engine.input)
        if layout is None or engine.input.dtype != np.float32:
            shapes = ", ".join(f"{list(o.shape)}" for o in engine.outputs)
            raise InputError(
                f"{name} is not a BlazePose person detector (outputs {shapes})",
                "use pose_detection.tflite from MediaPipe (see model.detector)",
            )
        self.engine = engine
        self.boxes_index, self.scores_index = layout
        _, self.in_h, self.in_w, _ = engine.input.shape
        anchor_options = dataclasses.replace(POSE_DETECTOR, input_width=self.in_w, input_height=self.in_h)
        self.anchors = ssd_anchors(anchor_options)
        count = engine.outputs[self.scores_index].shape[1]
        if len(self.anchors) != count:
            raise InputError(f"{name} has {count} anchors; MediaPipe's pose detector options give {len(self.anchors)}")
        keypoints = (engine.outputs[self.boxes_index].shape[2] - 4) // 2
        self.options = dataclasses.replace(options, num_keypoints=keypoints, scale=float(self.in_w))
        self.invokes = 0  # detector runs so far (how often tracking was lost, on video)
        self._lock = threading.Lock()
        # Its crop, reused; the float input is written into the interpreter's own (invoke_filled). With
        # nobody in view the detector runs every frame: fresh arrays a call grow the heap by what
        # malloc keeps of them, and an input of ours would be 600 kB and a copy a frame.
        self._buffer = np.zeros((self.in_h, self.in_w, 3), np.uint8)

    def find(self, image: np.ndarray) -> RotatedRect | None:
        """The rotated square around the best person of an RGB frame (source pixels), or None."""
        height, width = image.shape[:2]
        region = full_region(width, height, self.in_w, self.in_h)  # the centred square holding the frame
        letterbox = RotatedRect(width / 2, height / 2, region.w, region.h)
        with self._lock:
            rgb = warp(image, letterbox, self.in_w, self.in_h, "zero", self._buffer)

            def fill(tensor: np.ndarray) -> None:  # [-1, 1]: rgb * (2 / 255) - 1 in float32, in place
                np.subtract(np.multiply(rgb, np.float32(2.0 / 255.0), out=tensor[0]), np.float32(1.0), out=tensor[0])

            outputs = self.engine.invoke_filled(fill)
            self.invokes += 1
        found = decode_detections(outputs[self.boxes_index], outputs[self.scores_index], self.anchors, self.options)
        best = weighted_nms(found, self.options.iou_threshold, self.options.max_detections)
        if not len(best):
            return None
        points = to_source(best.keypoints[0], region)
        return region_from_points(points[0], points[1])


def region_from_points(centre: np.ndarray, scale_point: np.ndarray) -> RotatedRect | None:
    """:func:`rect_from_points`, or None for a degenerate region (non-finite, or under :data:`MIN_REGION_SIDE`)."""
    if not (np.isfinite(centre).all() and np.isfinite(scale_point).all()):
        return None
    rect = rect_from_points(centre, scale_point)
    return rect if rect.width >= MIN_REGION_SIDE else None


def dropped_outputs(engine: InferenceEngine) -> tuple[str, ...]:
    """Outputs cut from the landmark model before it was loaded (its segmentation mask, see
    :mod:`edgepose.inference.unread`): not read either, so listed with the ignored ones. A
    supervised engine holds the loaded one as ``engine``."""
    loaded = getattr(engine, "engine", engine)
    return tuple(getattr(loaded, "dropped_outputs", ()))


def pose_from_result(result: LandmarkResult, min_keypoint_score: float) -> Pose:
    """The document's pose: 17 COCO keypoints (score = visibility), the 33 landmarks and world landmarks.

    The box is around the 33 landmarks whose visibility exceeds ``min_keypoint_score`` (hands and
    feet included); the score is the pose flag.
    """
    body = result.landmarks[:NUM_LANDMARKS]
    landmarks = np.ascontiguousarray(body[:, :4])  # x, y, z, visibility
    keypoints = np.ascontiguousarray(body[list(COCO_LANDMARKS)][:, [0, 1, 3]])
    box = box_from_keypoints(body[:, [0, 1, 3]], min_keypoint_score)
    world = None if result.world is None else np.ascontiguousarray(result.world[:NUM_LANDMARKS])
    return Pose(keypoints, result.flag, box, landmarks=landmarks, world=world)


class BlazePoseEstimator(ReadsSetup):
    """Runs a BlazePose landmark engine and its person detector on frames (see the module doc)."""

    def __init__(
        self,
        engine: InferenceEngine,
        detector: PoseDetector,
        decoder_config: DecoderConfig,
        model_name: str = "model",
        clock: Callable[[], float] = time.perf_counter,
        stats: RunStats | None = None,
    ) -> None:
        layout = find_landmark_layout(engine.outputs, engine.input)
        if layout is None:
            raise InputError(f"{model_name} is not a BlazePose landmark model")
        self.engine = landmark_engine(engine)
        self.detector = detector
        self.model_name = model_name
        self.model_options: dict[str, float] = {}
        self.clock = clock
        self.stats = stats
        ignored = tuple(engine.outputs[i].name for i in layout.ignored) + dropped_outputs(engine)
        self.setup = BlazePoseSetup(BlazePoseDecoder(layout, ignored), decoder_config)
        _, self.in_h, self.in_w, _ = engine.input.shape
        # A crop and its float tensor: one pair when serial, two in turn when frames overlap
        # (edgepose.estimation.buffers). Made at the first region: the estimator a model is loaded
        # with is often only the template of the cameras' siblings and never cuts a frame.
        self._inputs: TurnBuffers[tuple[np.ndarray, np.ndarray]] = TurnBuffers(self._input_pair)
        self._next: RotatedRect | None = None  # the next frame's region, from this frame's landmarks

    def setup_for(self, decoder_config: DecoderConfig) -> BlazePoseSetup:
        """The same decoder with other settings (a reload); not yet in use."""
        return BlazePoseSetup(self.setup.decoder, decoder_config)

    def sibling(self, decoder_config: DecoderConfig, stats: RunStats | None = None) -> BlazePoseEstimator:
        """Another camera's estimator on these engines: its own region and buffers, settings and figures."""
        return BlazePoseEstimator(
            self.engine, self.detector, decoder_config, self.model_name, self.clock, stats or self.stats
        )

    def on_engine(self, engine: InferenceEngine) -> BlazePoseEstimator:
        """These stages and this detector on another landmark engine (the benchmark's timed one)."""
        return BlazePoseEstimator(engine, self.detector, self.config, self.model_name, self.clock, self.stats)

    def use(self, setup: BlazePoseSetup) -> None:
        self.setup = setup

    def reset(self) -> None:
        """Forget the previous frame's region (call between unrelated images)."""
        self._next = None

    def needs_resize(self, frame: Frame) -> bool:
        return False

    def estimate(self, frame: Frame, continuous: bool = False) -> FrameResult:
        """Poses of one frame, in source pixels, with per-stage timings in milliseconds (the detector in preprocess)."""
        prepared = self._prepare(frame, continuous, overlapped=False)
        t1 = self.clock()
        outputs = self.engine.invoke(prepared.tensor)
        return self.finish(prepared, outputs, (self.clock() - t1) * 1e3)

    def prepare(self, frame: Frame, continuous: bool = False) -> BlazePrepared:
        """The landmark input of ``frame``: from the carried region on video, else the detector's; in
        a tensor the next :meth:`prepare` does not write over (its invoke may still be reading it)."""
        return self._prepare(frame, continuous, overlapped=True)

    @property
    def input_buffers(self) -> int:
        """Input pairs (crop, tensor) made so far: 1 on the serial schedule, 2 once frames overlap."""
        return self._inputs.made

    def _input_pair(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((self.in_h, self.in_w, 3), np.uint8), np.zeros((1, self.in_h, self.in_w, 3), np.float32)

    def _prepare(self, frame: Frame, continuous: bool, overlapped: bool) -> BlazePrepared:
        setup = self.setup
        t0 = self.clock()
        rect = self._next if continuous else None
        detected = rect is None
        if detected:
            rect = self.detector.find(frame.image)
            log.debug(
                "frame %d: the person detector ran (%s)",
                frame.index,
                "no region carried" if continuous else "a still image",
            )
        tensor = self.engine.no_region  # nobody found: the engine answers without running the model
        if rect is not None:
            buffer, tensor = self._inputs.next() if overlapped else self._inputs.current()
            crop = warp(frame.image, rect, self.in_w, self.in_h, "replicate", buffer)
            np.multiply(crop, np.float32(1.0 / 255.0), out=tensor[0])
        return BlazePrepared(frame, setup, rect, tensor, (self.clock() - t0) * 1e3, continuous, detected)

    def finish(self, prepared: BlazePrepared, outputs: Sequence[np.ndarray], invoke_ms: float) -> FrameResult:
        """Decode the landmark outputs into the frame's pose and, on video, carry its region to the next frame."""
        setup = prepared.setup
        t2 = self.clock()
        poses: tuple[Pose, ...] = ()
        carried: RotatedRect | None = None
        if prepared.rect is not None:
            result = decode_outputs(outputs, setup.decoder.layout, prepared.rect, self.in_w, self.in_h)
            if result.flag >= setup.min_pose_score:
                poses = (pose_from_result(result, setup.config.min_keypoint_score),)
                centre, scale_point = result.landmarks[list(AUXILIARY), :2]
                carried = region_from_points(centre, scale_point)
        if prepared.continuous:
            self._next = carried
        return self._frame_result(prepared, poses, invoke_ms, (self.clock() - t2) * 1e3)

    def follow(
        self, prepared: BlazePrepared, outputs: Sequence[np.ndarray], invoke_ms: float
    ) -> Callable[[], FrameResult]:
        """:meth:`finish` in two steps: the next frame's region now, the frame's pose when the returned call is made.

        The region needs the pose flag and the two auxiliary landmarks only, so the overlapped
        schedule cuts and invokes the next frame before the 39 landmarks, the world landmarks and
        the document's pose are built. Every output the pose reads is checked here, so a frame
        that fails does so before its region is carried, as in :meth:`finish`.
        """
        setup = prepared.setup
        t2 = self.clock()
        carried: RotatedRect | None = None
        found = False
        if prepared.rect is not None:
            layout = setup.decoder.layout
            found = checked_flag(outputs, layout) >= setup.min_pose_score
            if found:
                centre, scale_point = decode_points(outputs, layout, prepared.rect, self.in_w, self.in_h, AUXILIARY)
                carried = region_from_points(centre, scale_point)
        if prepared.continuous:
            self._next = carried
        return partial(self._pose_after, prepared, outputs, invoke_ms, found, (self.clock() - t2) * 1e3)

    def _pose_after(
        self, prepared: BlazePrepared, outputs: Sequence[np.ndarray], invoke_ms: float, found: bool, early_ms: float
    ) -> FrameResult:
        """The frame's result after :meth:`follow` (the outputs are the engine's copies, still whole)."""
        t3 = self.clock()
        poses: tuple[Pose, ...] = ()
        if found and prepared.rect is not None:
            setup = prepared.setup
            result = decode_outputs(outputs, setup.decoder.layout, prepared.rect, self.in_w, self.in_h)
            poses = (pose_from_result(result, setup.config.min_keypoint_score),)
        return self._frame_result(prepared, poses, invoke_ms, early_ms + (self.clock() - t3) * 1e3)

    def _frame_result(
        self, prepared: BlazePrepared, poses: tuple[Pose, ...], invoke_ms: float, decode_ms: float
    ) -> FrameResult:
        frame = prepared.frame
        timing = Timing(prepared.preprocess_ms, invoke_ms, decode_ms, prepared.preprocess_ms + invoke_ms + decode_ms)
        return FrameResult(
            frame_index=frame.index,
            ts=frame.ts,
            mono=frame.mono,
            width=frame.width,
            height=frame.height,
            camera=frame.camera,
            poses=poses,
            timing=timing,
            file=frame.file,
        )


def find_detector(model_path: Path, configured: str, dirs: Sequence[Path]) -> Path:
    """Where the person detector of the landmark model at ``model_path`` is.

    ``configured`` (``model.detector``: a name or path, looked up like ``model.name``) when set;
    else ``pose_detection.tflite`` beside the landmark model, else in the model directories.
    """
    from edgepose.modelstore.locate import locate

    if configured:
        try:
            return locate(configured, dirs)
        except InputError as exc:
            raise DetectorMissingError(
                f"the BlazePose detector model.detector={configured!r} was not found: {exc.message}", exc.hint
            ) from None
    beside = model_path.parent / DETECTOR_FILE
    if beside.is_file():
        return beside
    for d in dirs:
        if (d / DETECTOR_FILE).is_file():
            return d / DETECTOR_FILE
    searched = ", ".join(str(d) for d in [model_path.parent, *dirs])
    raise DetectorMissingError(
        f"{model_path.name} is a BlazePose landmark model and needs its person detector {DETECTOR_FILE}, "
        f"which is not beside it nor in any model directory (searched {searched})",
        f"put MediaPipe's {DETECTOR_FILE} beside the landmark model, or set model.detector to its path",
    )


def open_detector(path: Path, threads: int, cache_dir: str | None = None) -> PoseDetector:
    """The detector at ``path`` on the CPU (MediaPipe ships no Edge TPU build of it). With a
    ``cache_dir`` (``model.cache_dir``; "" for the default), its sparse weights load from a dense
    copy kept there (:mod:`edgepose.inference.densify`); None loads the file as it is."""
    from edgepose.inference.densify import dense_model
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    model = read_model(path)
    if cache_dir is not None:
        model = dense_model(model, cache_dir)
    return PoseDetector(LiteRtEngine(model, threads), name=path.name)
