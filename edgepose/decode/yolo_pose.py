"""YOLO-pose (Ultralytics YOLOv8/YOLO11-pose, and end-to-end exports such as YOLO26-pose), multi-person.

Two output layouts, one output each, recognised from the tensors:

- ``yolo_pose`` ``[1, 56, N]``: one column per anchor, N = (H/8)(W/8) + (H/16)(W/16) + (H/32)(W/32)
  for an H x W input (2100 at 320, 8400 at 640); rows box cx, cy, w, h, the person score (sigmoid
  applied), then 17 x (x, y, score). Box and keypoint decoding are inside the graph; edgepose keeps
  score > ``decoder.min_pose_score`` (default 0.25), runs greedy NMS at IoU > ``decoder.nms_iou``
  (0.7) and keeps at most ``decoder.max_poses`` (300), Ultralytics' defaults.
- ``yolo_pose_end2end`` ``[1, K, 57]`` (K = 300 by default): one row per detection, already through
  the model's own one-to-one head (no NMS): x1, y1, x2, y2, score, class, then 17 x (x, y, score),
  as Ultralytics' ``AutoBackend`` reads a TFLite end-to-end pose output. Only the threshold and
  ``max_poses`` apply.

Coordinates are normalized to the input (Ultralytics' TFLite exports), or input pixels (other
converters), told apart per frame by their size (:mod:`edgepose.kernels.yolo_pose`). The input is
letterboxed as Ultralytics' ``LetterBox`` does (gray 114, its placement, pixel / 255; NCHW or NHWC
as the model's input is, int8/uint8 inputs through their own quantization): the decoder's
:data:`CONVENTION`, which the estimator applies.

Ties: the int8 files quantize the person score coarsely (the shared YOLO11n-pose int8 builds
saturate it at 0.5015), so tens of candidates of one person share the top score. They are ordered
with a stable sort on the score: equal scores keep anchor order, so the candidate with the lower
anchor index (the finer stride first, then row by row) is kept and its tied neighbours are
suppressed. Deterministic, and Ultralytics' own choice where its (unstable) sort keeps them in
place; docs/decoders.md gives the figures of the alternatives tried against the float model
(choosing by box agreement or keypoint score is no closer; averaging a tied group is, but reports
a pose the model never produced).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import Decoder, decoder_kernels, setting_or_model
from edgepose.errors import FrameError, InputError
from edgepose.estimation.preprocess import InputConvention, Letterbox, Region, input_geometry
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels, warmup_yolo_pose
from edgepose.pose import Pose, poses_from_arrays

DEFAULT_MIN_POSE_SCORE = 0.25  # Ultralytics' conf
DEFAULT_MAX_POSES = 300  # Ultralytics' max_det
STRIDES = (8, 16, 32)
ROWS = 5 + 17 * 3  # cx, cy, w, h, score, 17 x (x, y, score)
END2END_COLUMNS = 6 + 17 * 3  # x1, y1, x2, y2, score, class, 17 x (x, y, score)
# Ultralytics' LetterBox: gray 114 at its own placement, pixel / 255.
CONVENTION = InputConvention(pad=114, placement="ultralytics", value_range="unit")


def anchors_for(height: int, width: int) -> int | None:
    """Anchors of an H x W input over strides 8, 16, 32; None unless both sides are multiples of 32."""
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        return None
    return sum((height // s) * (width // s) for s in STRIDES)


def _image_input(spec: TensorSpec) -> tuple[int, int] | None:
    """(H, W) of a 3-channel image input, NCHW or NHWC; None for anything else."""
    shape = spec.shape
    if len(shape) != 4 or shape[0] != 1 or 3 not in (shape[1], shape[3]):
        return None
    height, width, _ = input_geometry(shape)
    return height, width


def _readable(spec: TensorSpec) -> bool:
    """float32 output, or int8/uint8 with quantization parameters."""
    return spec.dtype == np.float32 or (spec.dtype in (np.int8, np.uint8) and spec.quantized)


def matches_grid(outputs: Sequence[TensorSpec], input_spec: TensorSpec) -> bool:
    """One output ``[1, 56, N]`` with N the anchors of the model's input size."""
    size = _image_input(input_spec)
    if len(outputs) != 1 or size is None or not _readable(outputs[0]):
        return False
    shape = outputs[0].shape
    return len(shape) == 3 and shape[0] == 1 and shape[1] == ROWS and shape[2] == anchors_for(*size)


def matches_end2end(outputs: Sequence[TensorSpec], input_spec: TensorSpec) -> bool:
    """One output ``[1, K, 57]`` of an image model."""
    shape = outputs[0].shape if len(outputs) == 1 else ()
    return (
        len(outputs) == 1
        and _image_input(input_spec) is not None
        and _readable(outputs[0])
        and len(shape) == 3
        and shape[0] == 1
        and shape[1] >= 1
        and shape[2] == END2END_COLUMNS
    )


class YoloPoseDecoder(Decoder):
    """Poses from one YOLO-pose output, all post-processing in one kernel call.

    The person box is the model's own; keypoint scores are the model's (sigmoid applied). Ties in
    the person score go to the lower anchor index (see the module docstring).
    """

    multi_person = True
    input_convention = CONVENTION

    def __init__(
        self, format_name: str, spec: TensorSpec, input_spec: TensorSpec, config: DecoderConfig, kernels: Kernels
    ) -> None:
        self.format = format_name
        self.spec = spec
        self.end2end = format_name == "yolo_pose_end2end"
        size = _image_input(input_spec)
        if size is None:
            raise InputError(f"{format_name}: the model input {list(input_spec.shape)} is not an image")
        self.in_h, self.in_w = size
        if input_spec.dtype.kind in "iu" and not input_spec.quantized:  # pixel / 255 needs a scale
            raise InputError(
                f"{format_name}: the {input_spec.dtype} model input has no quantization parameters",
                "export the model with them (Ultralytics' int8 exports have them)",
            )
        self.min_pose_score = setting_or_model(config.min_pose_score, {}, "score_threshold", DEFAULT_MIN_POSE_SCORE)
        self.max_poses = setting_or_model(config.max_poses, {}, "max_detections", DEFAULT_MAX_POSES)
        self.nms_iou = config.nms_iou
        self.kernels = kernels
        warmup_yolo_pose(kernels, spec.dtype)  # the model's own output dtype, compiled now

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        raw = outputs[0][0]
        spec = self.spec
        if isinstance(region, Letterbox):
            clip_w, clip_h = float(region.width), float(region.height)
        else:
            clip_w = clip_h = np.inf
        mapping = np.array([region.x, region.w / self.in_w, region.y, region.h / self.in_h, clip_w, clip_h])
        keypoints, boxes, scores, finite = self.kernels.yolo_pose(
            raw,
            not self.end2end,
            6 if self.end2end else 5,
            self.end2end,
            not self.end2end,
            spec.scale if spec.quantized else 0.0,
            float(spec.zero_point),
            float(self.min_pose_score),
            float(self.nms_iou),
            int(self.max_poses),
            float(self.in_w),
            float(self.in_h),
            mapping,
        )
        if not finite:
            raise FrameError(f"the model's poses output ({spec.name}) holds NaN or inf: frame skipped")
        if not (np.isfinite(keypoints).all() and np.isfinite(boxes).all()):  # a huge value overflowed
            raise FrameError(f"the model's poses output ({spec.name}) decodes out of range: frame skipped")
        return poses_from_arrays(keypoints, scores, boxes=boxes)


def build_grid(
    outputs: Sequence[TensorSpec], input_spec: TensorSpec, config: DecoderConfig, _options: Mapping[str, float]
) -> YoloPoseDecoder:
    return YoloPoseDecoder("yolo_pose", outputs[0], input_spec, config, decoder_kernels(config))


def build_end2end(
    outputs: Sequence[TensorSpec], input_spec: TensorSpec, config: DecoderConfig, _options: Mapping[str, float]
) -> YoloPoseDecoder:
    return YoloPoseDecoder("yolo_pose_end2end", outputs[0], input_spec, config, decoder_kernels(config))
