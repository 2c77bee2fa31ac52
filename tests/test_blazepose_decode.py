"""The pure parts of BlazePose: anchors, detections, weighted NMS, the rotated region, landmarks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepose.decode.blazepose.anchors import POSE_DETECTOR, AnchorOptions, ssd_anchors
from edgepose.decode.blazepose.detection import Detections, DetectorOptions, decode_detections, weighted_nms
from edgepose.decode.blazepose.landmarks import (
    COCO_LANDMARKS,
    LANDMARK_NAMES,
    decode_landmarks,
    project,
    refine_with_heatmap,
    world_landmarks,
)
from edgepose.decode.blazepose.outputs import detector_layout, landmark_layout
from edgepose.decode.blazepose.region import RotatedRect, rect_from_points, warp, warp_numpy
from edgepose.inference.engine import TensorSpec
from edgepose.keypoints import KEYPOINT_NAMES

# -- anchors ---------------------------------------------------------------------------------


def test_pose_detector_anchors_are_mediapipes_2254() -> None:
    anchors = ssd_anchors(POSE_DETECTOR)
    assert anchors.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 4)
    np.testing.assert_allclose(anchors[:2, :2], [[0.5 / 28, 0.5 / 28]] * 2)  # 2 anchors per stride-8 cell
    np.testing.assert_allclose(anchors[2, :2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1568, :2], [0.5 / 14, 0.5 / 14])  # the stride-16 layer starts
    last = anchors[-6:]  # the three stride-32 layers merge: 6 anchors on the last cell
    np.testing.assert_allclose(last[:, :2], [[6.5 / 7, 6.5 / 7]] * 6)
    assert (anchors[:, 2:] == 1.0).all()  # fixed anchor size


def test_anchor_sizes_without_fixed_size_follow_the_scales() -> None:
    options = AnchorOptions(64, 64, (32, 64), 0.2, 0.8, fixed_anchor_size=False)
    anchors = ssd_anchors(options)
    assert len(anchors) == 2 * 2 * 2 + 1 * 1 * 2
    np.testing.assert_allclose(anchors[0, 2:], [0.2, 0.2])
    np.testing.assert_allclose(anchors[1, 2:], [math.sqrt(0.2 * 0.8)] * 2)  # interpolated with the next scale
    np.testing.assert_allclose(anchors[-1, 2:], [math.sqrt(0.8 * 1.0)] * 2)  # the last layer's next scale is 1


# -- detections --------------------------------------------------------------------------------


def raw_detection(n: int, index: int, values: list[float], logit: float) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.zeros((1, n, 12), np.float32)
    scores = np.full((1, n, 1), -50.0, np.float32)
    boxes[0, index] = values
    scores[0, index] = logit
    return boxes, scores


def test_decoding_is_relative_to_the_anchor_in_input_pixels() -> None:
    anchors = ssd_anchors(POSE_DETECTOR)
    centre = anchors[100, :2]
    boxes, scores = raw_detection(len(anchors), 100, [22.4, -11.2, 44.8, 89.6] + [0.0, 0.0, 22.4, 0.0] * 2, 2.0)
    found = decode_detections(boxes, scores, anchors)
    assert len(found) == 1
    cx, cy = centre[0] + 0.1, centre[1] - 0.05
    np.testing.assert_allclose(found.boxes[0], [cx - 0.1, cy - 0.2, cx + 0.1, cy + 0.2], atol=1e-6)
    np.testing.assert_allclose(found.keypoints[0, :2], np.array([centre, centre + np.float32([0.1, 0.0])]), atol=1e-6)
    assert found.scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))


def test_scores_below_half_are_dropped_and_huge_logits_are_clipped() -> None:
    anchors = ssd_anchors(POSE_DETECTOR)
    boxes, scores = raw_detection(len(anchors), 5, [0.0] * 12, -0.01)
    assert len(decode_detections(boxes, scores, anchors)) == 0
    scores[0, 7] = 1e30  # clipped to 100 before the sigmoid: no overflow, score 1
    found = decode_detections(boxes, scores, anchors, DetectorOptions())
    assert len(found) == 1 and found.scores[0] == 1.0


def detections(boxes: list[list[float]], scores: list[float], kp_x: list[float]) -> Detections:
    kp = np.zeros((len(boxes), 4, 2), np.float32)
    kp[:, :, 0] = np.array(kp_x, np.float32)[:, None]
    return Detections(np.array(boxes, np.float32), kp, np.array(scores, np.float32))


def test_weighted_nms_averages_overlapping_detections_by_score() -> None:
    d = detections(
        [[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]],  # two overlap, one far away
        [0.6, 0.9, 0.7],
        [1.0, 2.0, 9.0],
    )
    out = weighted_nms(d, 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.7])  # the best's own score, best first
    np.testing.assert_allclose(out.keypoints[0, :, 0], (0.6 * 1.0 + 0.9 * 2.0) / 1.5)
    np.testing.assert_allclose(out.boxes[0], [0.9 * 0.1 / 1.5, 0.0, (0.6 + 0.9 * 1.1) / 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(out.boxes[1], [5.0, 5.0, 6.0, 6.0])
    assert len(weighted_nms(d, 0.3, max_detections=1)) == 1


def test_weighted_nms_keeps_detections_overlapping_at_most_the_threshold_apart() -> None:
    # IoU of these two is 1/3 > 0.3: merged; at a threshold of 0.34 they stay apart.
    d = detections([[0.0, 0.0, 1.0, 1.0], [0.5, 0.0, 1.5, 1.0]], [0.9, 0.8], [0.0, 1.0])
    assert len(weighted_nms(d, 0.3)) == 1
    assert len(weighted_nms(d, 0.34)) == 2


def test_weighted_nms_of_an_empty_box_ends() -> None:
    d = detections([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]], [0.9, 0.8], [0.0, 1.0])
    out = weighted_nms(d, 0.3)  # an empty box overlaps nothing, itself included: MediaPipe stops there
    assert len(out) == 1 and out.keypoints[0, 0, 0] == 0.0
    assert len(weighted_nms(detections([], [], []), 0.3)) == 0


# -- the region --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale_point", "rotation"),
    [
        ((100.0, 60.0), 0.0),  # straight above the hips: upright
        ((140.0, 100.0), math.pi / 2),  # to the right: the body lies, turned a quarter clockwise
        ((60.0, 100.0), -math.pi / 2),
        ((100.0, 140.0), -math.pi),  # below: upside down ([-pi, pi))
    ],
)
def test_region_turns_the_body_upright(scale_point: tuple[float, float], rotation: float) -> None:
    rect = rect_from_points(np.array([100.0, 100.0]), np.array(scale_point))
    assert rect.width == rect.height == pytest.approx(2 * 40 * 1.25)
    assert (rect.cx, rect.cy) == (100.0, 100.0)
    assert rect.rotation == pytest.approx(rotation)
    # The crop's top centre (0.5, 0) lies towards the scale point from the centre.
    top = rect.to_source(np.array([0.5, 0.0]))
    direction = (np.array(scale_point) - 100.0) / 40.0
    np.testing.assert_allclose((top - 100.0) / (rect.height / 2), direction, atol=1e-6)


def test_matrix_maps_the_output_corners_to_the_rect_corners() -> None:
    rect = RotatedRect(50.0, 40.0, 20.0, 10.0, 0.3)
    m = rect.matrix(256, 128)
    corners = np.array([[0, 0, 1], [256, 0, 1], [256, 128, 1], [0, 128, 1]], np.float64)
    expected = rect.to_source(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32))
    np.testing.assert_allclose(corners @ m.T, expected, atol=1e-4)


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_numpy_warp_agrees_with_opencv(border: str) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (90, 120, 3), np.uint8)
    image = np.ascontiguousarray(np.repeat(np.repeat(image, 2, 0), 2, 1))  # smooth enough to compare
    rect = RotatedRect(130.0, 70.0, 150.0, 150.0, 0.7)  # reaches past the image's edges
    got = warp(image, rect, 64, 64, border).astype(int)  # type: ignore[arg-type]
    twin = warp_numpy(image, rect, 64, 64, border).astype(int)  # type: ignore[arg-type]
    diff = np.abs(got - twin)
    assert diff.max() <= 2 and diff.mean() < 0.5
    if border == "zero":
        assert (twin[0, 0] == 0).all()  # a corner far outside the image


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_warp_gives_mediapipes_warp_perspective_pixels(border: str, squat_rgb: np.ndarray) -> None:
    """MediaPipe's ImageToTensorCalculator cuts with cv::warpPerspective; the affine warp edgepose
    uses (the map has no perspective row) must give the same pixels, rotations and borders included."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(11)
    h, w = squat_rgb.shape[:2]
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    for size in (224, 256):
        out = np.zeros((size, size, 3), np.uint8)
        for _ in range(40):
            sides = rng.uniform(8, 2 * max(w, h), 2)
            rect = RotatedRect(*rng.uniform(-50, [w + 50, h + 50]), *sides, rng.uniform(-4, 4))
            matrix = np.vstack([rect.matrix(size, size), [0.0, 0.0, 1.0]])
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            expected = cv2.warpPerspective(squat_rgb, matrix, (size, size), flags=flags, borderMode=mode)
            np.testing.assert_array_equal(warp(squat_rgb, rect, size, size, border), expected)  # type: ignore[arg-type]
            assert warp(squat_rgb, rect, size, size, border, out) is out  # type: ignore[arg-type]
            np.testing.assert_array_equal(out, expected)


# -- landmarks ---------------------------------------------------------------------------------


def test_landmark_names_and_the_coco_subset() -> None:
    assert len(LANDMARK_NAMES) == 33
    assert [LANDMARK_NAMES[i] for i in COCO_LANDMARKS] == list(KEYPOINT_NAMES)


def test_decode_landmarks_normalizes_to_the_crop() -> None:
    raw = np.zeros((1, 195), np.float32)
    raw[0, :5] = [128.0, 64.0, -32.0, 0.0, 100.0]
    lm = decode_landmarks(raw, 256, 256)
    np.testing.assert_allclose(lm[0], [0.5, 0.25, -0.125, 0.5, 1.0])


def peak_heatmap(row: int, col: int, channels: int = 2, logit: float = 4.0) -> np.ndarray:
    hm = np.full((64, 64, channels), -20.0, np.float32)
    hm[row, col, :] = logit
    hm[row, col + 1, :] = logit
    return hm


def test_heatmap_refines_to_the_windows_centre_of_mass() -> None:
    hm = peak_heatmap(20, 30)
    xy = np.array([[32.0 / 64, 21.0 / 64], [50.0 / 64, 50.0 / 64]], np.float32)  # near the peak; far from it
    out = refine_with_heatmap(xy, hm, kernel=9)
    np.testing.assert_allclose(out[0], [30.5 / 64, 20.0 / 64], atol=1e-4)  # cell corners, as MediaPipe
    np.testing.assert_array_equal(out[1], xy[1])  # nothing sure in its window: kept


def test_heatmap_window_is_the_kernel_wide() -> None:
    hm = peak_heatmap(20, 30, channels=1)
    xy = np.array([[35.5 / 64, 20.5 / 64]], np.float32)  # cell 35: the peak at 30-31 is 4-5 cells away
    assert refine_with_heatmap(xy, hm, kernel=9)[0, 0] != xy[0, 0]
    np.testing.assert_array_equal(refine_with_heatmap(xy, hm, kernel=7), xy)


def test_heatmap_leaves_landmarks_off_the_map_alone_and_truncates_towards_zero() -> None:
    hm = peak_heatmap(0, 0, channels=3)
    xy = np.array([[-0.1, 0.0], [-0.4 / 64, 0.0], [1.2, 0.5]], np.float32)
    out = refine_with_heatmap(xy, hm)
    np.testing.assert_array_equal(out[[0, 2]], xy[[0, 2]])
    np.testing.assert_allclose(out[1], [0.5 / 64, 0.0], atol=1e-4)  # -0.4 of a cell is cell 0 (C's int())


def test_project_maps_through_the_rotation_and_scales_z_as_x() -> None:
    rect = RotatedRect(100.0, 200.0, 80.0, 80.0, math.pi / 2)
    lm = np.array([[0.5, 0.0, 0.25, 0.9, 0.8]], np.float32)  # the crop's top centre
    out = project(lm, rect)
    np.testing.assert_allclose(out[0, :2], [140.0, 200.0], atol=1e-4)  # turned a quarter clockwise: to the right
    assert out[0, 2] == pytest.approx(20.0)
    np.testing.assert_allclose(out[0, 3:], [0.9, 0.8])


def test_world_landmarks_turn_with_the_crop() -> None:
    raw = np.zeros((1, 117), np.float32)
    raw[0, :3] = [0.0, -1.0, 0.5]  # one metre up in the upright crop
    out = world_landmarks(raw, math.pi / 2)
    np.testing.assert_allclose(out[0], [1.0, 0.0, 0.5], atol=1e-6)


# -- which output is which --------------------------------------------------------------------


def spec(shape: tuple[int, ...], name: str = "t") -> TensorSpec:
    return TensorSpec(name, 0, shape, np.dtype(np.float32))


INPUT = spec((1, 256, 256, 3))


def test_landmark_outputs_are_found_by_shape_in_any_order() -> None:
    outputs = [spec((1, 117)), spec((1, 64, 64, 39)), spec((1, 256, 256, 1), "seg"), spec((1, 1)), spec((1, 195))]
    layout = landmark_layout(outputs, INPUT)
    assert layout is not None
    assert (layout.landmarks, layout.flag, layout.heatmap, layout.world, layout.ignored) == (4, 3, 1, 0, (2,))
    bare = landmark_layout([spec((1, 195)), spec((1, 1))], INPUT)  # no heatmap, no world: still decodable
    assert bare is not None and bare.heatmap is None and bare.world is None


@pytest.mark.parametrize(
    "outputs",
    [
        [spec((1, 1, 17, 3))],  # MoveNet SinglePose
        [spec((1, 195))],  # no pose flag
        [spec((1, 195)), spec((1, 1)), spec((1, 6, 56))],  # something else besides
        [spec((1, 195)), spec((1, 195)), spec((1, 1))],  # two landmark outputs
    ],
)
def test_other_outputs_are_not_blazepose(outputs: list[TensorSpec]) -> None:
    assert landmark_layout(outputs, INPUT) is None


def test_detector_outputs_are_found_either_way_round() -> None:
    det_input = spec((1, 224, 224, 3))
    assert detector_layout([spec((1, 2254, 12)), spec((1, 2254, 1))], det_input) == (0, 1)
    assert detector_layout([spec((1, 2254, 1)), spec((1, 2254, 12))], det_input) == (1, 0)
    assert detector_layout([spec((1, 195)), spec((1, 1))], det_input) is None


def fake_outputs(flag: float = 3.0) -> list[np.ndarray]:
    """Landmark model outputs in the lite/full order: landmarks, flag, segmentation, heatmaps, world."""
    landmarks = np.zeros((1, 195), np.float32)
    landmarks[0, 0::5] = 128.0  # every landmark at the crop's centre
    landmarks[0, 1::5] = 128.0
    heatmap = np.full((1, 64, 64, 39), -20.0, np.float32)
    return [
        landmarks,
        np.array([[flag]], np.float32),
        np.zeros((1, 256, 256, 1), np.float32),
        heatmap,
        np.zeros((1, 117), np.float32),
    ]


LITE_OUTPUTS = [spec((1, 195)), spec((1, 1)), spec((1, 256, 256, 1)), spec((1, 64, 64, 39)), spec((1, 117))]


def test_decoded_outputs_are_in_source_pixels() -> None:
    from edgepose.decode.blazepose.outputs import decode_outputs

    layout = landmark_layout(LITE_OUTPUTS, INPUT)
    rect = RotatedRect(300.0, 200.0, 100.0, 100.0, 0.4)
    result = decode_outputs(fake_outputs(), layout, rect, 256, 256)
    np.testing.assert_allclose(result.landmarks[:, :2], np.tile([300.0, 200.0], (39, 1)), atol=1e-3)
    assert result.flag == 3.0 and result.world is not None and result.world.shape == (39, 3)


@pytest.mark.parametrize("which", [0, 1, 4])  # landmarks, pose flag, world
def test_a_nan_output_skips_the_frame(which: int) -> None:
    from edgepose.decode.blazepose.outputs import decode_outputs
    from edgepose.errors import FrameError

    outputs = fake_outputs()
    outputs[which].reshape(-1)[0] = np.nan
    with pytest.raises(FrameError, match="NaN or inf"):
        decode_outputs(outputs, landmark_layout(LITE_OUTPUTS, INPUT), RotatedRect(0, 0, 10, 10), 256, 256)


def test_nan_heatmap_logits_only_lose_the_refinement() -> None:
    hm = peak_heatmap(20, 30)
    hm[18:23, 28:34, :] = np.nan
    xy = np.array([[32.0 / 64, 21.0 / 64], [0.5, 0.5]], np.float32)
    np.testing.assert_array_equal(refine_with_heatmap(xy, hm), xy)
