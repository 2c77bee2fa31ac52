"""Multi-person PoseNet (PersonLab, Papandreou et al. 2018): what Coral's ``PosenetDecoderOp`` does, on the CPU.

Two output layouts are understood:

- ``posenet_coral``: Coral's models with the decoder op cut off on load
  (:mod:`edgepose.inference.surgery`): heatmaps ``[1,H,W,17]``, short offsets ``[1,H,W,34]``,
  mid offsets ``[1,H,W,64]``, usually uint8 with their own scale and zero point.
- ``posenet_tf``: TensorFlow's float PoseNet (257x257, stride 32): heatmaps, offsets, and the
  forward and backward displacements ``[1,H,W,32]`` each, which concatenate to Coral's 64 channels.

Heatmaps are logits; offsets are input pixels, y for the 17 keypoints then x; a keypoint at cell
(y, x) plus offset (dy, dx) is at input pixel (y * stride + dy, x * stride + dx). The kernels work
in grid cells, so offsets and the NMS radius are divided by the stride on the way in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode import layout
from edgepose.decode.base import Decoder, decoder_kernels, dequantize_scaled, finite_poses, setting_or_model
from edgepose.errors import InputError
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels
from edgepose.pose import Pose, poses_from_arrays

DEFAULT_MAX_POSES = 10
DEFAULT_MIN_POSE_SCORE = 0.2
DEFAULT_NMS_RADIUS = 20.0  # model-input pixels
# Short-offset refinement steps after each mid-range jump. Coral's op uses 5 (TensorFlow.js uses 2);
# 5 reproduces Coral's reference output within about 0.4 px mean, 2 within about 1.2 px.
REFINE_STEPS = 5


@dataclass(frozen=True)
class PoseNetParams:
    """The decoding parameters after precedence (config, else the model's own, else the default)."""

    max_poses: int
    min_pose_score: float
    nms_radius: float  # model-input pixels
    stride: float  # model-input pixels per grid cell
    min_keypoint_score: float


def _grid(spec: TensorSpec) -> tuple[int, ...]:
    return spec.shape[1:3]


def coral_layout(outputs: Sequence[TensorSpec]) -> tuple[int, int, int] | None:
    """Output indices of (heatmaps, short offsets, mid offsets), or None when this is not the layout.

    Other outputs (long-range offsets, segmentation, part heatmaps) are ignored: see
    :mod:`edgepose.decode.layout`.
    """
    found = layout.find(outputs, (layout.HEATMAPS, layout.SHORT_OFFSETS, layout.MID_OFFSETS))
    return None if found is None else (found[0], found[1], found[2])


def tf_layout(outputs: Sequence[TensorSpec]) -> tuple[int, int, int, int] | None:
    """Output indices of (heatmaps, offsets, displacement fwd, displacement bwd), or None.

    The two 32-channel outputs are told apart by name ('fwd', 'bwd'), else taken in model order;
    among more than two, only the names can say which are the displacements.
    """
    found = layout.find(outputs, (layout.HEATMAPS, layout.SHORT_OFFSETS))
    if found is None:
        return None
    grid = layout.grid_of(outputs[found[0]])
    disp = [i for i in layout.candidates(outputs, layout.DISPLACEMENTS, grid) if i not in found]
    names = [outputs[i].name.lower() for i in disp]
    if len(disp) > 2:
        fwd = [i for i, n in zip(disp, names, strict=True) if "fwd" in n or "forward" in n]
        bwd = [i for i, n in zip(disp, names, strict=True) if "bwd" in n or "backward" in n]
        if len(fwd) != 1 or len(bwd) != 1 or fwd == bwd:
            return None
        return found[0], found[1], fwd[0], bwd[0]
    if len(disp) != 2:
        return None
    if "bwd" in names[0] or "fwd" in names[1]:
        disp.reverse()
    return found[0], found[1], disp[0], disp[1]


def matches_coral(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return coral_layout(outputs) is not None


def matches_tf(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return tf_layout(outputs) is not None


def resolve_params(
    config: DecoderConfig, options: Mapping[str, float], grid: tuple[int, ...], input_spec: TensorSpec
) -> PoseNetParams:
    """Parameters by precedence; the stride, unless the model states it, from input and grid sizes.

    A grid of H cells spans an input of (H - 1) * stride + 1 pixels (481 = 30 * 16 + 1).
    """
    in_h = input_spec.shape[1]
    derived = (in_h - 1) / (grid[0] - 1) if grid[0] > 1 else float(in_h)
    stride = float(options.get("stride", derived))
    if stride <= 0:
        raise InputError(f"PoseNet stride {stride} is not positive", "re-download the model")
    return PoseNetParams(
        max_poses=setting_or_model(config.max_poses, options, "max_detections", DEFAULT_MAX_POSES),
        min_pose_score=setting_or_model(config.min_pose_score, options, "score_threshold", DEFAULT_MIN_POSE_SCORE),
        nms_radius=setting_or_model(config.nms_radius, options, "nms_radius", DEFAULT_NMS_RADIUS),
        stride=stride,
        min_keypoint_score=config.min_keypoint_score,
    )


def poses_from_grid(
    coords: np.ndarray,
    keypoint_scores: np.ndarray,
    pose_scores: np.ndarray,
    stride: float,
    input_spec: TensorSpec,
    region: Region,
    min_keypoint_score: float,
) -> list[Pose]:
    """Kernel output (grid cells, (y, x)) to poses in source pixels, through input-normalized coordinates.

    All poses in one pass: the same float32 operations per element as mapping pose by pose.
    """
    _, in_h, in_w, _ = input_spec.shape
    n = len(pose_scores)
    normalized = np.empty((n, coords.shape[1], 2), np.float32)
    normalized[..., 0] = coords[:n, :, 1] * stride / in_w
    normalized[..., 1] = coords[:n, :, 0] * stride / in_h
    keypoints = np.empty((n, coords.shape[1], 3), np.float32)
    keypoints[..., :2] = region.to_source(normalized)
    keypoints[..., 2] = keypoint_scores[:n]
    return poses_from_arrays(keypoints, pose_scores, min_keypoint_score)


class PoseNetMultiDecoder(Decoder):
    """Multi-person PoseNet; ``order`` picks (heatmaps, shorts, mids[, mids backward]) out of the outputs."""

    multi_person = True

    def __init__(
        self,
        format_name: str,
        specs: Sequence[TensorSpec],
        order: Sequence[int],
        input_spec: TensorSpec,
        params: PoseNetParams,
        kernels: Kernels,
    ) -> None:
        self.format = format_name
        self.specs = tuple(specs)
        self.order = tuple(order)
        self.ignored_outputs = layout.ignored(specs, order)
        self.input_spec = input_spec
        self.params = params
        self.kernels = kernels

    def grids(self, outputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(heatmap logits, short offsets, mid offsets) as float32 ``(H, W, C)``, offsets in grid cells.

        Dequantizing and the division by the stride are one pass per output (:func:`dequantize_scaled`).
        """
        names = ("heatmaps", "short offsets", "mid offsets", "backward displacements")
        cells = 1.0 / self.params.stride
        arrays = [
            dequantize_scaled(self.specs[i], outputs[i], what, 1.0 if what == "heatmaps" else cells)
            for i, what in zip(self.order, names, strict=False)
        ]
        mids = arrays[2] if len(arrays) == 3 else np.concatenate([arrays[2], arrays[3]], axis=2)
        return arrays[0], arrays[1], mids

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        heatmaps, shorts, mids = self.grids(outputs)
        p = self.params
        coords, kp_scores, scores = self.kernels.posenet_decode(
            heatmaps, shorts, mids, p.max_poses, p.min_pose_score, p.nms_radius / p.stride, REFINE_STEPS, True
        )
        poses = poses_from_grid(coords, kp_scores, scores, p.stride, self.input_spec, region, p.min_keypoint_score)
        return finite_poses(poses)


def _builder(
    name: str, layout: Callable[[Sequence[TensorSpec]], Sequence[int] | None]
) -> Callable[[Sequence[TensorSpec], TensorSpec, DecoderConfig, Mapping[str, float]], PoseNetMultiDecoder]:
    """The ``OutputFormat.build`` of one PoseNet layout: the two differ only in where each tensor is."""

    def build(
        outputs: Sequence[TensorSpec], input_spec: TensorSpec, config: DecoderConfig, options: Mapping[str, float]
    ) -> PoseNetMultiDecoder:
        order = layout(outputs)
        if order is None:
            raise InputError(f"not a {name} output layout")
        params = resolve_params(config, options, _grid(outputs[order[0]]), input_spec)
        return PoseNetMultiDecoder(name, outputs, order, input_spec, params, decoder_kernels(config))

    return build


build_coral = _builder("posenet_coral", coral_layout)
build_tf = _builder("posenet_tf", tf_layout)
