"""Decoders: model outputs to poses, one module per output format."""

from edgepose.decode import heatmap, movenet_multi, movenet_single, posenet_multi, posenet_single, yolo_pose
from edgepose.decode.base import Decoder, OutputFormat, choose_decoder

# Tried in order; the first whose test matches the model's outputs decodes it.
FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat(
        "movenet_singlepose",
        "MoveNet SinglePose [1,1,17,3]",
        movenet_single.matches,
        movenet_single.build,
    ),
    OutputFormat(
        "movenet_multipose",
        "MoveNet MultiPose [1,6,56]",
        movenet_multi.matches,
        movenet_multi.build,
    ),
    OutputFormat(
        "posenet_coral",
        "PoseNet multi-person, Coral layout: heatmaps 17, short offsets 34, mid offsets 64 (others ignored)",
        posenet_multi.matches_coral,
        posenet_multi.build_coral,
        posenet_multi.coral_layout,
    ),
    OutputFormat(
        "posenet_tf",
        "PoseNet multi-person, TensorFlow layout: heatmaps 17, offsets 34, displacements fwd, bwd 32 (others ignored)",
        posenet_multi.matches_tf,
        posenet_multi.build_tf,
        posenet_multi.tf_layout,
    ),
    OutputFormat(
        "posenet_single",
        "PoseNet single-person: heatmaps 17 and offsets 34 (others ignored)",
        posenet_single.matches,
        posenet_single.build,
        posenet_single.layout,
    ),
    OutputFormat(
        "yolo_pose",
        "YOLO-pose (Ultralytics YOLOv8/YOLO11) [1,56,N], N the anchors of strides 8, 16, 32",
        yolo_pose.matches_grid,
        yolo_pose.build_grid,
    ),
    OutputFormat(
        "yolo_pose_end2end",
        "YOLO-pose end-to-end (YOLO26) [1,K,57]: box, score, class, 17 x (x, y, score) per row",
        yolo_pose.matches_end2end,
        yolo_pose.build_end2end,
    ),
    OutputFormat(
        "heatmap",
        "heatmaps [1,H,W,17] or [1,17,H,W] (Simple Baselines, HRNet)",
        heatmap.matches,
        heatmap.build,
    ),
)

__all__ = ["FORMATS", "Decoder", "OutputFormat", "choose_decoder"]
