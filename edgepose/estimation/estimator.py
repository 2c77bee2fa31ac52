"""Frame in, poses out: preprocess, invoke, decode, for one model.

The estimator holds the crop-region stage a single-person model uses on video
(:class:`~edgepose.decode.crop_region.CropRegion`) and measures each stage with an injected clock,
so the pipeline and the benchmark read the same figures. It resizes with ``model.resize``
(:mod:`edgepose.estimation.resize`) and, with ``decoder.plausibility`` on, drops poses stitched from several
people right after decoding (:mod:`edgepose.decode.plausibility`): counted as ``implausible``, never
followed by the crop region.
:meth:`PoseEstimator.estimate` is the three steps in a row; the overlapped pipeline calls
:meth:`~PoseEstimator.prepare` and :meth:`~PoseEstimator.finish` itself, with the invoke between
them running on the accelerator's worker thread while it prepares or publishes other frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, OutputFormat, choose_decoder, plausibility
from edgepose.decode.base import Decoded, Decoder
from edgepose.decode.crop_region import CropRegion
from edgepose.estimation.buffers import TurnBuffers
from edgepose.estimation.preprocess import (
    InputConvention,
    InputTensor,
    Region,
    fill_input,
    input_geometry,
    input_tensor,
)
from edgepose.estimation.resize import DEFAULT as DEFAULT_RESIZE
from edgepose.estimation.resize import METHODS as RESIZE_METHODS
from edgepose.estimation.resize import Resize
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine
from edgepose.pose import FrameResult, Pose, Timing

if TYPE_CHECKING:
    from edgepose.stats import RunStats

log = logging.getLogger(__name__)

CROWD_HINT = (
    "%s is a single-person model and keeps seeing several people (%d of the last %d frames: a pose "
    "stitched from several people, or the followed person jumping): use MoveNet MultiPose or PoseNet "
    "(docs/accuracy.md)"
)


@dataclass(frozen=True)
class DecoderSetup:
    """A decoder and the settings it was built from: replaced together, read once per frame."""

    decoder: Decoder
    config: DecoderConfig
    # The plausibility gate's limits when ``decoder.plausibility`` is on, else None.
    gate: plausibility.Thresholds | None = field(init=False)
    # How the model wants its input (padding, placement, value range), as its decoder states it.
    convention: InputConvention = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate", gate_of(self.config))
        object.__setattr__(self, "convention", self.decoder.input_convention)

    @property
    def uses_crop_region(self) -> bool:
        return not self.decoder.multi_person and self.config.crop_region


def gate_of(config: DecoderConfig) -> plausibility.Thresholds | None:
    """``decoder.plausibility``'s thresholds (keypoints below ``min_keypoint_score`` are missing), or None."""
    if not config.plausibility:
        return None
    return plausibility.Thresholds(
        limb=config.plausibility_limb,
        symmetry=config.plausibility_symmetry,
        span=config.plausibility_span,
        min_score=config.min_keypoint_score,
    )


@dataclass(frozen=True, slots=True)
class Gated:
    """One frame's poses after the plausibility gate, what the crop region follows, what was dropped."""

    poses: list[Pose]  # the plausible poses, best first
    follow: Decoded  # for the crop region: empty when the pose it would follow was dropped
    dropped: int  # reported poses the gate dropped
    follow_dropped: bool  # the pose the crop region would have followed was implausible


def apply_gate(decoded: Decoded, poses: list[Pose], gate: plausibility.Thresholds | None) -> Gated:
    """Keep the plausible ``poses`` (``decoded``'s, sorted); ``gate`` None keeps them all.

    The crop region follows ``decoded.anchor``, else the best pose; that pose is checked in the
    same pass (MoveNet's anchor may be under the pose-score threshold, so not among ``poses``).
    When it is implausible the crop region follows nothing: the next frame is cut whole.
    """
    followed = decoded.anchor if decoded.anchor is not None else (poses[0] if poses else None)
    if gate is None or followed is None:
        return Gated(poses, Decoded(poses, decoded.anchor), 0, False)
    checked = poses if any(followed is p for p in poses) else [*poses, followed]
    plausible = plausibility.check(np.stack([p.keypoints for p in checked]), gate).plausible
    good = {id(p) for p, ok in zip(checked, plausible, strict=True) if ok}
    kept = [p for p in poses if id(p) in good]
    if id(followed) in good:
        return Gated(kept, Decoded(kept, decoded.anchor), len(poses) - len(kept), False)
    return Gated(kept, Decoded([]), len(poses) - len(kept), True)


class ReadsSetup:
    """What every estimator reads off its current setup: a decoder and its settings, replaced whole
    by :meth:`use`, so a frame is decoded with one setup even when a reload swaps it meanwhile."""

    setup: DecoderSetup

    @property
    def decoder(self) -> Decoder:
        return self.setup.decoder

    @property
    def config(self) -> DecoderConfig:
        return self.setup.config

    @property
    def uses_crop_region(self) -> bool:
        return self.setup.uses_crop_region

    def finish(self, prepared: Any, outputs: Sequence[np.ndarray], invoke_ms: float) -> FrameResult:
        raise NotImplementedError

    def follow(self, prepared: Any, outputs: Sequence[np.ndarray], invoke_ms: float) -> Callable[[], FrameResult]:
        """What the next frame's cut depends on, now; the frame's result when the returned call is made.

        This default finishes the whole frame at once; an estimator that can put part of it after
        the next invoke's start overrides it (:meth:`PoseEstimator.follow`).
        """
        result = self.finish(prepared, outputs, invoke_ms)
        return lambda: result


class PoseEstimator(ReadsSetup):
    """Runs one engine and its decoder on frames.

    The decoder and its settings are one :class:`DecoderSetup` reference that :meth:`estimate`
    reads once, so a frame is decoded wholly with one setup even if :meth:`use` runs meanwhile.
    """

    def __init__(
        self,
        engine: InferenceEngine,
        decoder_config: DecoderConfig,
        model_name: str = "model",
        formats: Sequence[OutputFormat] = FORMATS,
        decoder: Decoder | None = None,
        clock: Callable[[], float] = time.perf_counter,
        model_options: Mapping[str, float] | None = None,
        resize: Resize | str = DEFAULT_RESIZE,
        stats: RunStats | None = None,
    ) -> None:
        """``resize``: a :data:`edgepose.estimation.resize.METHODS` name (``model.resize``) or a method;
        ``stats``: where poses the plausibility gate drops are counted (``implausible``)."""
        self.engine = engine
        self.resize: Resize = RESIZE_METHODS[resize] if isinstance(resize, str) else resize
        self.stats = stats
        # A single-person model that keeps seeing several people says so once (CROWD_HINT).
        self.crowd = plausibility.CrowdWatch()
        self._followed: tuple[float, float, float, float] | None = None  # box of the last followed pose
        self.model_name = model_name
        self.model_options = dict(model_options or {})  # the model's own decoder parameters (PosenetDecoderOp)
        self.formats = tuple(formats)
        self.setup = DecoderSetup(decoder, decoder_config) if decoder is not None else self.setup_for(decoder_config)
        self.clock = clock
        # NHWC, or NCHW (today's Ultralytics exports): the tensor is built in the model's own layout.
        self.in_h, self.in_w, self.channels_first = input_geometry(engine.input.shape)
        # Input tensors for the input's size, dtype and value range (_inputs_for): one when serial,
        # two in turn when frames overlap (edgepose.estimation.buffers).
        self._inputs: TurnBuffers[InputTensor] | None = None
        self._inputs_key: tuple[object, ...] = ()
        # One crop region across decoder setups: a reload keeps following the person.
        self.crop = CropRegion(self.in_w, self.in_h)

    def setup_for(self, decoder_config: DecoderConfig) -> DecoderSetup:
        """A decoder for this model's outputs built with other settings (a reload); not yet in use."""
        decoder = choose_decoder(
            self.formats, self.engine.outputs, self.engine.input, decoder_config, self.model_name, self.model_options
        )
        return DecoderSetup(decoder, decoder_config)

    def sibling(self, decoder_config: DecoderConfig, stats: RunStats | None = None) -> PoseEstimator:
        """Another camera's estimator on this one's engine and model: its own crop region, crowd watch
        and input buffers, its own decoder settings and figures (``stats``)."""
        return PoseEstimator(
            self.engine,
            decoder_config,
            self.model_name,
            self.formats,
            clock=self.clock,
            model_options=self.model_options,
            resize=self.resize,
            stats=stats or self.stats,
        )

    def on_engine(self, engine: InferenceEngine) -> PoseEstimator:
        """This model's decoder settings and resize on another engine (the benchmark's timed one)."""
        return PoseEstimator(
            engine,
            self.config,
            self.model_name,
            self.formats,
            clock=self.clock,
            model_options=self.model_options,
            resize=self.resize,
            stats=self.stats,
        )

    def use(self, setup: DecoderSetup) -> None:
        """Decode from the next frame on with ``setup`` (the pipeline calls this between frames)."""
        self.setup = setup

    def reset(self) -> None:
        """Forget the previous frame (call between unrelated images)."""
        self.crop.reset()
        self._followed = None

    def region_for(self, frame: Frame, continuous: bool, setup: DecoderSetup | None = None) -> Region:
        """Where to cut this frame's input from: the crop region on video, the whole frame otherwise."""
        setup = setup or self.setup
        if setup.uses_crop_region and continuous:
            return self.crop.region_for(frame)
        return setup.convention.region(frame.width, frame.height, self.in_w, self.in_h)

    def needs_resize(self, frame: Frame) -> bool:
        """Whether this frame needs the engine's dynamic input resized (its size, or another camera's
        estimator on the same engine, changed it): the resize must not overlap an invoke."""
        size = self.setup.decoder.input_size_for(frame.width, frame.height)
        return size is not None and self._engine_size() != size

    def _engine_size(self) -> tuple[int, int]:
        h, w, _ = input_geometry(self.engine.input.shape)
        return w, h

    def _fit_input(self, in_w: int, in_h: int) -> None:
        """Resize a dynamic model input, reallocating only when the size changes. The engine's own
        size is compared too: several cameras' estimators share one engine."""
        if (in_w, in_h) != (self.in_w, self.in_h) or self._engine_size() != (in_w, in_h):
            self.engine.resize_input((1, in_h, in_w, 3))
            self.in_w, self.in_h = in_w, in_h
            self.crop.in_w, self.crop.in_h = in_w, in_h

    def estimate(self, frame: Frame, continuous: bool = False) -> FrameResult:
        """Poses of one frame, in source pixels, with per-stage timings in milliseconds."""
        prepared = self._prepare(frame, continuous, overlapped=False)
        t1 = self.clock()
        outputs = self.engine.invoke(prepared.tensor)
        return self.finish(prepared, outputs, (self.clock() - t1) * 1e3)

    def prepare(self, frame: Frame, continuous: bool = False) -> Prepared:
        """Cut and convert the model input of ``frame`` (the crop region from the last finished frame)
        into a tensor the next :meth:`prepare` does not write over: its invoke may still be reading it."""
        return self._prepare(frame, continuous, overlapped=True)

    @property
    def input_buffers(self) -> int:
        """Input tensors made for the input as it is now: 1 on the serial schedule, 2 once frames overlap."""
        return self._inputs.made if self._inputs is not None else 0

    def _prepare(self, frame: Frame, continuous: bool, overlapped: bool) -> Prepared:
        setup = self.setup  # once: the whole frame is decoded with one decoder
        t0 = self.clock()
        size = setup.decoder.input_size_for(frame.width, frame.height)  # dynamic inputs (MoveNet MultiPose)
        if size is not None:
            self._fit_input(*size)
        region = self.region_for(frame, continuous, setup)
        convention = setup.convention
        inputs = self._inputs_for(convention)
        target = inputs.next() if overlapped else inputs.current()
        tensor = fill_input(frame.image, region, target, self.resize, convention.pad)
        return Prepared(frame, setup, region, tensor, (self.clock() - t0) * 1e3, continuous)

    def _inputs_for(self, convention: InputConvention) -> TurnBuffers[InputTensor]:
        """The reused input tensors for the engine's input as it is now (made again only when its
        size, dtype or quantization, or the decoder's value range, changes)."""
        spec = self.engine.input
        quantization = (spec.dtype, spec.scale, spec.zero_point)
        key = (self.in_h, self.in_w, *quantization, convention.value_range, self.channels_first)
        if self._inputs is None or key != self._inputs_key:
            self._inputs = TurnBuffers(partial(input_tensor, *key))
            self._inputs_key = key
        return self._inputs

    def finish(self, prepared: Prepared, outputs: list[np.ndarray], invoke_ms: float) -> FrameResult:
        """Decode ``outputs`` of ``prepared``'s invoke into the frame's result (and move the crop region on)."""
        return self.follow(prepared, outputs, invoke_ms)()

    def follow(self, prepared: Prepared, outputs: list[np.ndarray], invoke_ms: float) -> Callable[[], FrameResult]:
        """Decode the frame and move the crop region on now; build the rest of its result when called.

        The overlapped schedule with an exact crop cuts the next frame between these two steps: the
        next invoke waits for the crop region, not for the frame's counts, crowd watch and result.
        """
        setup, frame = prepared.setup, prepared.frame
        t2 = self.clock()
        early = getattr(setup.decoder, "followed_keypoints", None)  # single-person decoders
        if setup.uses_crop_region and setup.gate is None and early is not None:
            # Only the followed keypoints before the next cut; the pose, its box and checks after.
            keypoints = early(outputs, prepared.region)
            self.crop.follow(keypoints, frame.width, frame.height)
            return partial(self._decode_rest, prepared, keypoints, invoke_ms, (self.clock() - t2) * 1e3)
        decoded = setup.decoder.decode_frame(outputs, prepared.region)
        gated = apply_gate(decoded, sorted(decoded.poses, key=lambda p: -p.score), setup.gate)
        t3 = self.clock()
        if setup.uses_crop_region:
            self.crop.update(gated.follow, frame.width, frame.height)
        return partial(self._complete, prepared, gated, invoke_ms, (t3 - t2) * 1e3)

    def _decode_rest(self, prepared: Prepared, keypoints: np.ndarray, invoke_ms: float, early_ms: float) -> FrameResult:
        """The frame's result from the keypoints :meth:`follow` decoded early (no gate is set)."""
        t0 = self.clock()
        decoded = prepared.setup.decoder.decoded_from(keypoints)  # type: ignore[misc]
        gated = apply_gate(decoded, decoded.poses, None)  # one pose at most: nothing to sort
        return self._complete(prepared, gated, invoke_ms, early_ms + (self.clock() - t0) * 1e3)

    def _complete(self, prepared: Prepared, gated: Gated, invoke_ms: float, decode_ms: float) -> FrameResult:
        """The frame's result from its decoded, gated poses: what :meth:`follow` left for after the next cut."""
        frame = prepared.frame
        if gated.dropped and self.stats is not None:
            self.stats.count("implausible", gated.dropped)
        if not prepared.setup.decoder.multi_person:
            self._watch_crowd(gated, prepared.continuous)
        timing = Timing(prepared.preprocess_ms, invoke_ms, decode_ms, prepared.preprocess_ms + invoke_ms + decode_ms)
        return FrameResult(
            frame_index=frame.index,
            ts=frame.ts,
            mono=frame.mono,
            width=frame.width,
            height=frame.height,
            camera=frame.camera,
            poses=tuple(gated.poses),
            timing=timing,
            file=frame.file,
        )

    def _watch_crowd(self, gated: Gated, continuous: bool) -> None:
        """Count the frame's signs of several people and log :data:`CROWD_HINT` the one time they keep coming.

        Signs: a reported pose the gate dropped; on video, the reported person jumping farther than
        their size from the last frame's. Poses under the pose-score threshold (MoveNet's anchor in
        an empty room wanders) are no sign either way.
        """
        box = gated.poses[0].box if gated.poses else None
        jump = continuous and plausibility.jumped(self._followed, box)
        self._followed = box if continuous else None
        if self.crowd.observe(bool(gated.dropped or jump)):
            log.warning(CROWD_HINT, self.model_name, self.crowd.events, self.crowd.window)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A frame's model input, ready to invoke: what :meth:`PoseEstimator.finish` needs to decode it.

    ``setup`` is the decoder chosen when the frame was prepared (a reload in between does not split
    a frame); ``region`` is where in the source frame the input was cut from (source pixels).
    """

    frame: Frame
    setup: DecoderSetup
    region: Region
    tensor: np.ndarray
    preprocess_ms: float
    continuous: bool = False  # a frame of a video stream (the crop region and the crowd watch follow it)
