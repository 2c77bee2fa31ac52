"""MoveNet SinglePose (Lightning, Thunder): output ``[1, 1, 17, 3]`` of (y, x, score), normalized."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import setting_or_model
from edgepose.inference.engine import TensorSpec
from edgepose.pose import Pose, box_from_keypoints
from edgepose.preprocess import Region

DEFAULT_MIN_POSE_SCORE = 0.2


def matches(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return len(outputs) == 1 and outputs[0].shape == (1, 1, 17, 3)


class MoveNetSingleDecoder:
    """One pose per frame; its score is the mean keypoint score (as Google's examples compute it)."""

    format = "movenet_singlepose"
    multi_person = False

    def __init__(self, spec: TensorSpec, config: DecoderConfig) -> None:
        self.spec = spec
        self.min_pose_score = setting_or_model(config.min_pose_score, {}, "score_threshold", DEFAULT_MIN_POSE_SCORE)
        self.min_keypoint_score = config.min_keypoint_score
        # The last pose before the pose-score threshold: what the crop region follows. Its torso
        # check uses keypoint scores, as Google's tutorial does, so a person first seen faintly
        # (pose score under the threshold) is still zoomed in on and then found clearly.
        self.last_pose: Pose | None = None

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        raw = self.spec.dequantize(outputs[0]).reshape(17, 3)
        pose = decode_single(raw, region, self.min_keypoint_score)
        self.last_pose = pose
        return [pose] if pose.score >= self.min_pose_score else []


def decode_single(raw: np.ndarray, region: Region, min_keypoint_score: float) -> Pose:
    """``raw`` is ``(17, 3)`` of (y, x, score) normalized to the region."""
    keypoints = np.empty((17, 3), np.float32)
    keypoints[:, :2] = region.to_source(raw[:, 1::-1])  # (y, x) -> (x, y)
    keypoints[:, 2] = np.clip(raw[:, 2], 0.0, 1.0)
    score = float(keypoints[:, 2].mean())
    return Pose(keypoints, score, box_from_keypoints(keypoints, min_keypoint_score))


def build(
    outputs: Sequence[TensorSpec], _input: TensorSpec, config: DecoderConfig, _options: Mapping[str, float]
) -> MoveNetSingleDecoder:
    return MoveNetSingleDecoder(outputs[0], config)
