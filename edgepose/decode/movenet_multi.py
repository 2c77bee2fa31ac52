"""MoveNet MultiPose Lightning: output ``[1, 6, 56]``, up to six people, input of any multiple of 32.

Each row is 17 x (y, x, score) then (ymin, xmin, ymax, xmax, score), normalized to the input.
The input is dynamic: the estimator resizes it per frame size (:meth:`MoveNetMultiDecoder.input_size_for`)
so the frame keeps its aspect ratio with little padding, long side ``decoder.multipose_long_side``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import Decoder, decoder_kernels, dequantize_finite, finite_poses, setting_or_model
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels
from edgepose.pose import Pose, poses_from_arrays

MIN_SCORE = 0.2  # when neither the config nor the model sets one
DEFAULT_MAX_POSES = 6
MULTIPLE = 32  # the network downsamples by 32: each input side must be a multiple


def matches(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return len(outputs) == 1 and len(outputs[0].shape) == 3 and outputs[0].shape[0] == 1 and outputs[0].shape[2] == 56


def input_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(in_w, in_h): the long side ``long_side`` rounded to a multiple of 32, the other in proportion.

    The short side is rounded *up*, so the frame spans the whole long side of the input (the extra
    rows or columns are padding) and never loses resolution to rounding.
    """
    long_side = max(MULTIPLE, round(long_side / MULTIPLE) * MULTIPLE)
    short = max(MULTIPLE, math.ceil(min(width, height) / max(width, height) * long_side / MULTIPLE) * MULTIPLE)
    return (long_side, short) if width >= height else (short, long_side)


class MoveNetMultiDecoder(Decoder):
    """Up to six poses; box is the model's own person box (mapped to source pixels like the keypoints)."""

    format = "movenet_multipose"
    multi_person = True

    def __init__(self, spec: TensorSpec, config: DecoderConfig, options: Mapping[str, float], kernels: Kernels):
        self.spec = spec
        self.min_pose_score = setting_or_model(config.min_pose_score, options, "score_threshold", MIN_SCORE)
        self.max_poses = setting_or_model(config.max_poses, options, "max_detections", DEFAULT_MAX_POSES)
        self.long_side = config.multipose_long_side
        self.kernels = kernels

    def input_size_for(self, width: int, height: int) -> tuple[int, int]:
        """The model input (width, height) for frames of this size."""
        return input_size(width, height, self.long_side)

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        raw = dequantize_finite(self.spec, outputs[0], "poses")[0]
        keypoints, boxes, scores = self.kernels.movenet_multi(np.ascontiguousarray(raw), self.min_pose_score)
        n = min(len(scores), self.max_poses)
        kps = keypoints[:n].copy()
        kps[..., :2] = region.to_source(keypoints[:n, :, :2])
        corners = region.to_source(boxes[:n].reshape(n, 2, 2)).reshape(n, 4)
        # A pose score over 1 is no probability (a corrupt output); it ranks as the best pose, and is 1.
        return finite_poses(poses_from_arrays(kps, np.clip(scores[:n], 0.0, 1.0), boxes=corners))


def build(
    outputs: Sequence[TensorSpec], _input: TensorSpec, config: DecoderConfig, options: Mapping[str, float]
) -> MoveNetMultiDecoder:
    return MoveNetMultiDecoder(outputs[0], config, options, decoder_kernels(config))
