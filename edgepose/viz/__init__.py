"""Drawing poses on images: skeletons, keypoints, boxes and track ids (annotate and the preview page)."""

from edgepose.viz.draw import Style, color_for, draw_poses, poses_from_document

__all__ = ["Style", "color_for", "draw_poses", "poses_from_document"]
