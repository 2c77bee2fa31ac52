"""Single-person PoseNet: per keypoint the best heatmap cell plus its short offset, for any grid size.

Chosen for PoseNet models with only heatmaps ``[1,H,W,17]`` and offsets ``[1,H,W,34]`` (no
displacements to walk between people). This is the decoding of the TensorFlow Raspberry Pi
example, without its fixed 9x9 grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode import layout as roles
from edgepose.decode.base import Decoder, decoder_kernels, dequantize_finite, finite_poses, setting_or_model
from edgepose.decode.posenet_multi import DEFAULT_MIN_POSE_SCORE as MIN_SCORE
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels
from edgepose.pose import Pose, pose_from_keypoints


def layout(outputs: Sequence[TensorSpec]) -> tuple[int, int] | None:
    """Output indices of (heatmaps, offsets), or None.

    Other outputs are ignored (:mod:`edgepose.decode.layout`), except a multi-person model's mid
    offsets or displacements on the same grid: a model whose multi-person layout did not resolve
    is refused, not decoded as one person.
    """
    found = roles.find(outputs, (roles.HEATMAPS, roles.SHORT_OFFSETS))
    if found is None:
        return None
    grid = roles.grid_of(outputs[found[0]])
    if roles.candidates(outputs, roles.MID_OFFSETS, grid) or roles.candidates(outputs, roles.DISPLACEMENTS, grid):
        return None
    return found[0], found[1]


def matches(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return layout(outputs) is not None


class PoseNetSingleDecoder(Decoder):
    """One pose per frame; its score is the mean keypoint score (sigmoid of the heatmap logits)."""

    format = "posenet_single"
    multi_person = False

    def __init__(
        self,
        specs: Sequence[TensorSpec],
        order: tuple[int, int],
        input_spec: TensorSpec,
        config: DecoderConfig,
        options: Mapping[str, float],
        kernels: Kernels,
    ) -> None:
        self.specs = tuple(specs)
        self.order = order
        self.ignored_outputs = roles.ignored(specs, order)
        _, self.in_h, self.in_w, _ = input_spec.shape
        grid_h = specs[order[0]].shape[1]
        self.stride = float(options.get("stride", (self.in_h - 1) / (grid_h - 1) if grid_h > 1 else self.in_h))
        self.min_pose_score = setting_or_model(config.min_pose_score, options, "score_threshold", MIN_SCORE)
        self.min_keypoint_score = config.min_keypoint_score
        self.kernels = kernels

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        heatmaps = dequantize_finite(self.specs[self.order[0]], outputs[self.order[0]], "heatmaps")[0]
        offsets = dequantize_finite(self.specs[self.order[1]], outputs[self.order[1]], "offsets")[0]
        heatmaps, offsets = np.ascontiguousarray(heatmaps), np.ascontiguousarray(offsets)
        raw = self.kernels.posenet_single(heatmaps, offsets, self.stride, True)
        keypoints = np.empty((17, 3), np.float32)
        keypoints[:, :2] = region.to_source(raw[:, :2] / np.array([self.in_w, self.in_h], np.float32))
        keypoints[:, 2] = raw[:, 2]
        score = float(keypoints[:, 2].mean())
        if score < self.min_pose_score:
            return []
        return finite_poses([pose_from_keypoints(keypoints, score, self.min_keypoint_score)])


def build(
    outputs: Sequence[TensorSpec], input_spec: TensorSpec, config: DecoderConfig, options: Mapping[str, float]
) -> PoseNetSingleDecoder:
    order = layout(outputs)
    if order is None:
        raise ValueError("not a single-person PoseNet layout")
    return PoseNetSingleDecoder(outputs, order, input_spec, config, options, decoder_kernels(config))
