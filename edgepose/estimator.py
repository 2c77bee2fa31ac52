"""Frame in, poses out: preprocess, invoke, decode, for one model.

The estimator holds the per-stream state a single-person model needs (MoveNet's crop region) and
measures each stage with an injected clock, so the pipeline and the benchmark read the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, OutputFormat, choose_decoder
from edgepose.decode.base import Decoder
from edgepose.decode.crop_region import next_crop_region
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine
from edgepose.pose import FrameResult, Pose, Timing
from edgepose.preprocess import Region, cut, full_region, to_input_dtype


class PoseEstimator:
    """Runs one engine and its decoder on frames."""

    def __init__(
        self,
        engine: InferenceEngine,
        decoder_config: DecoderConfig,
        model_name: str = "model",
        formats: Sequence[OutputFormat] = FORMATS,
        decoder: Decoder | None = None,
        clock: Callable[[], float] = time.perf_counter,
        model_options: Mapping[str, float] | None = None,
    ) -> None:
        self.engine = engine
        self.config = decoder_config
        self.model_name = model_name
        self.model_options = dict(model_options or {})  # the model's own decoder parameters (PosenetDecoderOp)
        self.decoder = decoder or choose_decoder(formats, engine.outputs, engine.input, decoder_config, model_name,
                                                 self.model_options)  # fmt: skip
        self.formats = tuple(formats)
        self.clock = clock
        _, self.in_h, self.in_w, _ = engine.input.shape
        self._buffer = np.zeros((self.in_h, self.in_w, 3), np.uint8)
        self._last: Pose | None = None
        self._last_size: tuple[int, int] | None = None

    @property
    def uses_crop_region(self) -> bool:
        return not self.decoder.multi_person and self.config.crop_region

    def reconfigure(self, decoder_config: DecoderConfig) -> None:
        """Apply new decoder settings (a config reload): the decoder is rebuilt for the same model outputs.

        Two reference assignments, so a frame in flight finishes with the old decoder or the new one.
        """
        self.decoder = choose_decoder(self.formats, self.engine.outputs, self.engine.input, decoder_config,
                                      self.model_name, self.model_options)  # fmt: skip
        self.config = decoder_config

    def reset(self) -> None:
        """Forget the previous frame (call between unrelated images)."""
        self._last = None
        self._last_size = None

    def region_for(self, frame: Frame, continuous: bool) -> Region:
        """Where to cut this frame's input from: the crop region on video, the whole frame otherwise."""
        size = (frame.width, frame.height)
        if self.uses_crop_region and continuous and self._last is not None and self._last_size == size:
            return next_crop_region(self._last.keypoints, frame.width, frame.height)
        return full_region(frame.width, frame.height, self.in_w, self.in_h)

    def _fit_input(self, in_w: int, in_h: int) -> None:
        """Resize a dynamic model input (reallocating only when the frame size changes)."""
        if (in_w, in_h) != (self.in_w, self.in_h):
            self.engine.resize_input((1, in_h, in_w, 3))
            self.in_w, self.in_h = in_w, in_h
            self._buffer = np.zeros((in_h, in_w, 3), np.uint8)

    def estimate(self, frame: Frame, continuous: bool = False) -> FrameResult:
        """Poses of one frame, in source pixels, with per-stage timings in milliseconds."""
        t0 = self.clock()
        size_for = getattr(self.decoder, "input_size_for", None)  # dynamic inputs (MoveNet MultiPose)
        if size_for is not None:
            self._fit_input(*size_for(frame.width, frame.height))
        region = self.region_for(frame, continuous)
        rgb = cut(frame.image, region, self.in_w, self.in_h, self._buffer)
        spec = self.engine.input
        tensor = to_input_dtype(rgb, spec.dtype, spec.scale, spec.zero_point)
        t1 = self.clock()
        outputs = self.engine.invoke(tensor)
        t2 = self.clock()
        poses = sorted(self.decoder.decode(outputs, region), key=lambda p: -p.score)
        t3 = self.clock()
        if self.uses_crop_region:
            self._last = getattr(self.decoder, "last_pose", None) or (poses[0] if poses else None)
            self._last_size = (frame.width, frame.height)
        timing = Timing((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (t3 - t0) * 1e3)
        return FrameResult(
            frame_index=frame.index,
            ts=frame.ts,
            mono=frame.mono,
            width=frame.width,
            height=frame.height,
            camera=frame.camera,
            poses=tuple(poses),
            timing=timing,
        )
