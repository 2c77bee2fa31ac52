"""Generic heatmap models (Simple Baselines, Xiao et al. 2018; HRNet): one heatmap per keypoint.

Output ``[1, H, W, 17]`` (or ``[1, 17, H, W]``), one person per input (top-down models run on a
crop). The peak of each heatmap is refined to sub-cell precision as ``decoder.heatmap_refine`` says:

- ``argmax``: the best cell;
- ``quarter``: a quarter cell toward the higher neighbour on each axis (Simple Baselines);
- ``dark``: DARK (Zhang et al. 2020), a Newton step on the log of the Gaussian-blurred heatmap.

A cell (x, y) maps to input-normalized (x / W, y / H), the convention of Simple Baselines and MMPose
(heatmap coordinates scale by input size / heatmap size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import Decoder, decoder_kernels, dequantize_finite, finite_poses, setting_or_model
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels
from edgepose.kernels.reference import gaussian_kernel
from edgepose.pose import Pose, pose_from_keypoints

MIN_SCORE = 0.2  # when neither the config nor the model sets one
# DARK's blur: the Gaussian the training targets were drawn with (sigma 2 cells at 64x48).
DARK_SIGMA = 2.0


def channels_last(spec: TensorSpec) -> bool | None:
    """True for ``[1,H,W,17]``, False for ``[1,17,H,W]``, None for neither."""
    s = spec.shape
    if len(s) != 4 or s[0] != 1:
        return None
    if s[3] == 17 and s[1] > 2 and s[2] > 2:
        return True
    if s[1] == 17 and s[2] > 2 and s[3] > 2:
        return False
    return None


def matches(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return len(outputs) == 1 and channels_last(outputs[0]) is not None


def refine(kernels: Kernels, heatmaps: np.ndarray, method: str) -> np.ndarray:
    """``(H, W, K)`` float32 heatmaps to ``(K, 3)`` of (x, y, value) in cells, by ``method``."""
    if method == "argmax":
        return kernels.heatmap_argmax(heatmaps)
    if method == "quarter":
        return kernels.heatmap_quarter(heatmaps)
    return kernels.heatmap_dark(heatmaps, gaussian_kernel(DARK_SIGMA))


class HeatmapDecoder(Decoder):
    format = "heatmap"
    multi_person = False

    def __init__(self, spec: TensorSpec, config: DecoderConfig, options: Mapping[str, float], kernels: Kernels):
        self.spec = spec
        self.nhwc = bool(channels_last(spec))
        self.method = config.heatmap_refine
        self.min_pose_score = setting_or_model(config.min_pose_score, options, "score_threshold", MIN_SCORE)
        self.min_keypoint_score = config.min_keypoint_score
        self.kernels = kernels

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        grid = dequantize_finite(self.spec, outputs[0], "heatmaps")[0]
        if not self.nhwc:
            grid = grid.transpose(1, 2, 0)
        grid = np.ascontiguousarray(grid, dtype=np.float32)
        h, w, _ = grid.shape
        raw = refine(self.kernels, grid, self.method)
        keypoints = np.empty((17, 3), np.float32)
        keypoints[:, :2] = region.to_source(raw[:, :2] / np.array([w, h], np.float32))
        keypoints[:, 2] = np.clip(raw[:, 2], 0.0, 1.0)
        score = float(keypoints[:, 2].mean())
        if score < self.min_pose_score:
            return []
        return finite_poses([pose_from_keypoints(keypoints, score, self.min_keypoint_score)])


def build(
    outputs: Sequence[TensorSpec], _input: TensorSpec, config: DecoderConfig, options: Mapping[str, float]
) -> HeatmapDecoder:
    return HeatmapDecoder(outputs[0], config, options, decoder_kernels(config))
