"""MoveNet SinglePose (Lightning, Thunder): output ``[1, 1, 17, 3]`` of (y, x, score), normalized."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import OUT_OF_RANGE, Decoded, Decoder, dequantize_finite, finite_poses, setting_or_model
from edgepose.errors import FrameError
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec
from edgepose.pose import Pose, pose_from_keypoints

DEFAULT_MIN_POSE_SCORE = 0.2


def matches(outputs: Sequence[TensorSpec], _input: TensorSpec) -> bool:
    return len(outputs) == 1 and outputs[0].shape == (1, 1, 17, 3)


class MoveNetSingleDecoder(Decoder):
    """One pose per frame; its score is the mean keypoint score (as Google's examples compute it)."""

    format = "movenet_singlepose"
    multi_person = False

    def __init__(self, spec: TensorSpec, config: DecoderConfig) -> None:
        self.spec = spec
        self.min_pose_score = setting_or_model(config.min_pose_score, {}, "score_threshold", DEFAULT_MIN_POSE_SCORE)
        self.min_keypoint_score = config.min_keypoint_score

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]:
        return self.decode_frame(outputs, region).poses

    def decode_frame(self, outputs: Sequence[np.ndarray], region: Region) -> Decoded:
        """The pose if it passes the pose-score threshold; the crop region follows it either way.

        Its torso check uses keypoint scores, as Google's tutorial does, so a person first seen
        faintly (pose score under the threshold) is still zoomed in on and then found clearly.
        """
        return self.decoded_from(self.followed_keypoints(outputs, region))

    def followed_keypoints(self, outputs: Sequence[np.ndarray], region: Region) -> np.ndarray:  # type: ignore[override]
        """The person's ``(17, 3)`` (x, y, score) keypoints in source pixels: all the next crop needs.

        Checked finite here, before any crop region is computed from them (a finite output can
        still overflow on the way to source pixels).
        """
        raw = dequantize_finite(self.spec, outputs[0], "keypoints").reshape(17, 3)
        with np.errstate(over="ignore"):  # refused just below, as a frame error
            keypoints = source_keypoints(raw, region)
        if not np.isfinite(keypoints).all():
            raise FrameError(OUT_OF_RANGE)
        return keypoints

    def decoded_from(self, keypoints: np.ndarray) -> Decoded:  # type: ignore[override]
        """The rest of :meth:`decode_frame` from :meth:`followed_keypoints`' keypoints."""
        (pose,) = finite_poses([pose_from_keypoints(keypoints, float(keypoints[:, 2].mean()), self.min_keypoint_score)])
        return Decoded([pose] if pose.score >= self.min_pose_score else [], anchor=pose)


def source_keypoints(raw: np.ndarray, region: Region) -> np.ndarray:
    """``raw`` ``(17, 3)`` (y, x, score) normalized to the region -> ``(17, 3)`` float32 (x, y, score)
    in source pixels, scores clipped to [0, 1]."""
    keypoints = np.empty((17, 3), np.float32)
    keypoints[:, :2] = region.to_source(raw[:, 1::-1])  # (y, x) -> (x, y)
    keypoints[:, 2] = np.clip(raw[:, 2], 0.0, 1.0)
    return keypoints


def build(
    outputs: Sequence[TensorSpec], _input: TensorSpec, config: DecoderConfig, _options: Mapping[str, float]
) -> MoveNetSingleDecoder:
    return MoveNetSingleDecoder(outputs[0], config)
