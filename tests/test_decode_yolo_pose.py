"""YOLO-pose: recognised from its tensors, letterboxed as Ultralytics does, decoded as Ultralytics does.

Golden: the shared YOLO11n-pose files against Ultralytics' own predictions on the two images. The
NCHW/NHWC and int8-in/int8-out variants are the shared files with their first or last ops cut off
(the same network, so the same poses); the end-to-end layout ``[1, K, 57]`` is a tiny model built
here whose output is a constant the test chooses.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder, yolo_pose
from edgepose.errors import FrameError, InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.preprocess import cut, letterbox, to_input_dtype
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import ModelFile, read_model
from edgepose.kernels import load_kernels, numpy_kernels
from edgepose.kernels.flags import FASTMATH
from edgepose.modelstore.info import inspect_model
from edgepose.sources.files import read_image
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents

NUMBA = load_kernels("numba")
NUMPY = numpy_kernels()
IMAGES = ("squat.bmp", "posenet_test_image.bmp")
INPUT_320 = TensorSpec("images", 0, (1, 3, 320, 320), np.dtype(np.float32))
GRID_320 = TensorSpec("output0", 1, (1, 56, 2100), np.dtype(np.float32))
INPUT_32 = TensorSpec("images", 0, (1, 3, 32, 32), np.dtype(np.float32))  # 16 + 4 + 1 = 21 anchors


def yolo_file(models_dir: Path, size: int, kind: str) -> Path:
    return models_dir / f"yolo11n-pose_{size}_{kind}.tflite"


def reference(models_dir: Path, size: int, kind: str, image: str, width: int, height: int) -> np.ndarray:
    """Ultralytics' people on ``image``: ``(P, 17, 3)`` x, y in source pixels, keypoint score."""
    path = models_dir / f"yolo11n-pose_{size}_{kind}_reference.csv"
    rows = [r for r in csv.DictReader(path.open()) if r["image"] == image]
    people = np.zeros((1 + max(int(r["pose_id"]) for r in rows), 17, 3))
    for r in rows:
        x, y = float(r["keypoint_x"]) * width, float(r["keypoint_y"]) * height
        people[int(r["pose_id"]), int(r["keypoint_id"])] = (x, y, float(r["keypoint_score"]))
    return people


def distances(found: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Keypoint distances (px) of the found pose nearest ``person`` (by mean distance)."""
    d = np.linalg.norm(found[:, :, :2] - person[None, :, :2], axis=2)
    return d[d.mean(axis=1).argmin()]


def estimate(model: ModelFile | Path, image: np.ndarray, config: DecoderConfig | None = None) -> np.ndarray:
    """``(P, 17, 3)`` keypoints the estimator finds on ``image``."""
    model = model if isinstance(model, ModelFile) else read_model(model)
    estimator = PoseEstimator(LiteRtEngine(model, threads=2), config or DecoderConfig())
    result = estimator.estimate(Frame(image, 0, 0.0, 0.0))
    return np.array([p.keypoints for p in result.poses]).reshape(-1, 17, 3)


# --- recognising the layouts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "anchors"), [((320, 320), 2100), ((640, 640), 8400), ((384, 640), 5040), ((321, 320), None)]
)
def test_anchors_of_an_input_size(size: tuple[int, int], anchors: int | None) -> None:
    assert yolo_pose.anchors_for(*size) == anchors


@pytest.mark.parametrize("input_shape", [(1, 3, 320, 320), (1, 320, 320, 3)], ids=["nchw", "nhwc"])
def test_the_grid_layout_is_recognised_in_either_input_layout(input_shape: tuple[int, ...]) -> None:
    spec = TensorSpec("images", 0, input_shape, np.dtype(np.float32))
    assert choose_decoder(FORMATS, [GRID_320], spec, DecoderConfig()).format == "yolo_pose"


def test_quantized_outputs_are_recognised_and_unquantized_integers_are_not() -> None:
    int8 = TensorSpec("output0", 1, (1, 56, 2100), np.dtype(np.int8), 0.02, -3)
    assert yolo_pose.matches_grid([int8], INPUT_320)
    bare = TensorSpec("output0", 1, (1, 56, 2100), np.dtype(np.int8))
    assert not yolo_pose.matches_grid([bare], INPUT_320)


def test_an_integer_input_without_quantization_is_refused() -> None:
    bare = TensorSpec("images", 0, (1, 320, 320, 3), np.dtype(np.uint8))
    with pytest.raises(InputError, match="no quantization parameters"):
        choose_decoder(FORMATS, [GRID_320], bare, DecoderConfig())


def test_anchors_must_fit_the_input_size() -> None:
    """[1, 56, 2100] is a 320 model's: with a 640 input it is no YOLO-pose output."""
    spec = TensorSpec("images", 0, (1, 3, 640, 640), np.dtype(np.float32))
    assert not yolo_pose.matches_grid([GRID_320], spec)


def test_end_to_end_layout_is_recognised_and_movenet_multipose_keeps_its_own() -> None:
    e2e = TensorSpec("output0", 1, (1, 300, 57), np.dtype(np.float32))
    assert choose_decoder(FORMATS, [e2e], INPUT_320, DecoderConfig()).format == "yolo_pose_end2end"
    multipose = TensorSpec("output_0", 1, (1, 6, 56), np.dtype(np.float32))
    nhwc = TensorSpec("input", 0, (1, 256, 256, 3), np.dtype(np.uint8))
    assert choose_decoder(FORMATS, [multipose], nhwc, DecoderConfig()).format == "movenet_multipose"


def test_thresholds_default_to_ultralytics_and_follow_the_config() -> None:
    decoder = choose_decoder(FORMATS, [GRID_320], INPUT_320, DecoderConfig())
    assert (decoder.min_pose_score, decoder.nms_iou, decoder.max_poses) == (0.25, 0.7, 300)
    config = DecoderConfig(min_pose_score=0.5, nms_iou=0.4, max_poses=3)
    decoder = choose_decoder(FORMATS, [GRID_320], INPUT_320, config)
    assert (decoder.min_pose_score, decoder.nms_iou, decoder.max_poses) == (0.5, 0.4, 3)


# --- the kernel: threshold, ties, NMS, mapping back; Numba and NumPy agree ------------------------

IDENTITY = np.array([0.0, 1.0, 0.0, 1.0, np.inf, np.inf])  # input pixels are source pixels, no clip


def grid(people: list[tuple[int, float, tuple[float, float, float, float], float]], anchors: int = 21) -> np.ndarray:
    """A ``(56, anchors)`` output: each person (anchor, score, box cx, cy, w, h normalized, keypoint x
    offset) on an empty grid; keypoints spread over the box, keypoint scores 0.9."""
    raw = np.zeros((56, anchors), np.float32)
    for anchor, score, (cx, cy, w, h), shift in people:
        raw[:4, anchor] = cx, cy, w, h
        raw[4, anchor] = score
        raw[5::3, anchor] = cx - w / 2 + w * np.linspace(0, 1, 17) + shift
        raw[6::3, anchor] = cy - h / 2 + h * np.linspace(0, 1, 17)
        raw[7::3, anchor] = 0.9
    return raw


def run(kernels: Any, raw: np.ndarray, **kw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    args = {
        "channels_first": True,
        "kp_start": 5,
        "corners": False,
        "nms": True,
        "scale": 0.0,
        "zero_point": 0.0,
        "conf": 0.25,
        "iou": 0.7,
        "max_det": 300,
        "in_w": 32.0,
        "in_h": 32.0,
        "mapping": IDENTITY,
    } | kw
    return kernels.yolo_pose(raw, *args.values())


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_tied_scores_keep_the_lower_anchor(kernels: Any) -> None:
    """Equal scores: the candidate of the lower anchor index is kept, its tied neighbour suppressed,
    wherever the two sit and whichever looks better (the rule of docs/decoders.md)."""
    box = (0.5, 0.5, 0.4, 0.8)
    for first, second in ((3, 7), (7, 3)):
        raw = grid([(second, 0.5015, box, 0.02), (first, 0.5015, box, 0.0)])
        keypoints, _, scores, ok = run(kernels, raw)
        assert ok and scores.tolist() == [pytest.approx(0.5015)]
        expected = raw[5::3, min(first, second)] * 32
        np.testing.assert_allclose(keypoints[0, :, 0], expected, atol=1e-4)


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_tied_quantized_scores_keep_the_lower_anchor(kernels: Any) -> None:
    raw = np.zeros((56, 21), np.int8)
    raw[:4, [4, 9]] = np.array([[50], [50], [40], [80]])  # scale 0.01: cx 0.5, cy 0.5, w 0.4, h 0.8
    raw[4, [4, 9]] = 50
    raw[5::3, 4], raw[5::3, 9] = 30, 31
    keypoints, _, scores, ok = run(kernels, raw, scale=0.01, zero_point=0.0)
    assert ok and len(scores) == 1
    np.testing.assert_allclose(keypoints[0, :, 0], 0.30 * 32, atol=1e-4)


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_threshold_is_strict_nms_at_iou_and_max_det(kernels: Any) -> None:
    people = [
        (0, 0.9, (0.3, 0.5, 0.3, 0.6), 0.0),
        (1, 0.8, (0.32, 0.5, 0.3, 0.6), 0.0),  # IoU 0.88 with the first: suppressed
        (2, 0.7, (0.7, 0.5, 0.3, 0.6), 0.0),
        (3, 0.25, (0.5, 0.5, 0.2, 0.2), 0.0),
    ]
    raw = grid(people)
    assert run(kernels, raw)[2].tolist() == pytest.approx([0.9, 0.7])  # 0.25 is not above 0.25
    assert run(kernels, raw, iou=0.95)[2].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert run(kernels, raw, max_det=1)[2].tolist() == pytest.approx([0.9])
    assert run(kernels, raw, conf=0.2)[2].tolist() == pytest.approx([0.9, 0.7, 0.25])


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_mapping_back_and_clipping(kernels: Any) -> None:
    raw = grid([(0, 0.9, (0.5, 0.5, 0.5, 1.2), 0.0)])
    mapping = np.array([-10.0, 2.0, -20.0, 3.0, 40.0, 60.0])  # source = offset + input px * gain
    keypoints, boxes, _, ok = run(kernels, raw, mapping=mapping)
    assert ok
    np.testing.assert_allclose(boxes[0], [-10 + 8 * 2, 0.0, -10 + 24 * 2, 60.0], atol=1e-4)  # y clipped
    assert keypoints[0, :, 1].min() == 0.0 and keypoints[0, :, 1].max() == 60.0
    assert keypoints[0, 0, 0] == pytest.approx(-10 + 8 * 2)


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_pixel_units_are_recognised(kernels: Any) -> None:
    """Other converters write input pixels: the same poses as the normalized output."""
    raw = grid([(5, 0.9, (0.5, 0.5, 0.4, 0.8), 0.0)])
    pixels = raw.copy()
    pixels[[0, 2, 5 + 0 * 3]] *= 32
    pixels[5::3] = raw[5::3] * 32
    pixels[6::3] = raw[6::3] * 32
    pixels[[1, 3]] = raw[[1, 3]] * 32
    a, b = run(kernels, raw), run(kernels, pixels)
    np.testing.assert_allclose(a[0], b[0], atol=1e-4)
    np.testing.assert_allclose(a[1], b[1], atol=1e-4)


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_end_to_end_rows_are_thresholded_not_suppressed(kernels: Any) -> None:
    rows = np.zeros((300, 57), np.float32)
    rows[:3, :4] = [[0.1, 0.1, 0.5, 0.9], [0.11, 0.1, 0.5, 0.9], [0.6, 0.1, 0.9, 0.9]]  # x1, y1, x2, y2
    rows[:3, 4] = 0.9, 0.8, 0.2
    rows[:3, 6::3] = 0.3
    rows[:3, 7::3] = 0.5
    rows[:3, 8::3] = 0.7
    keypoints, boxes, scores, ok = run(kernels, rows, channels_first=False, kp_start=6, corners=True, nms=False)
    assert ok and scores.tolist() == pytest.approx([0.9, 0.8])  # overlapping rows both kept
    np.testing.assert_allclose(boxes[0], [3.2, 3.2, 16.0, 28.8], atol=1e-4)
    np.testing.assert_allclose(keypoints[1, 0], [9.6, 16.0, 0.7], atol=1e-4)


@pytest.mark.parametrize("kernels", [NUMBA, NUMPY], ids=["numba", "numpy"])
def test_nan_in_what_is_read_is_reported(kernels: Any) -> None:
    raw = grid([(2, 0.9, (0.5, 0.5, 0.4, 0.8), 0.0)])
    bad_score = raw.copy()
    bad_score[4, 10] = np.nan
    assert run(kernels, bad_score)[3] is False
    bad_keypoint = raw.copy()
    bad_keypoint[20, 2] = np.inf
    assert run(kernels, bad_keypoint)[3] is False


def test_a_nan_output_costs_the_frame() -> None:
    decoder = choose_decoder(FORMATS, [GRID_320], INPUT_320, DecoderConfig())
    out = np.zeros((1, 56, 2100), np.float32)
    out[0, 4, 7] = np.nan
    with pytest.raises(FrameError, match="NaN or inf"):
        decoder.decode([out], letterbox(640, 480, 320, 320))


def random_case(rng: np.random.Generator, dtype: type, layout: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Many candidates around a few people, scores with ties (quantized), some below the threshold."""
    anchors = 2100
    values = np.zeros((56, anchors), np.float64)
    centres = rng.uniform(0.2, 0.8, (4, 2))
    for j in range(anchors):
        c = centres[j % 4] + rng.normal(0, 0.02, 2)
        values[:4, j] = *c, rng.uniform(0.1, 0.3), rng.uniform(0.2, 0.5)
        values[5::3, j] = c[0] + rng.normal(0, 0.05, 17)
        values[6::3, j] = c[1] + rng.normal(0, 0.1, 17)
        values[7::3, j] = rng.uniform(0, 1, 17)
    values[4] = np.where(
        rng.random(anchors) < 0.05, rng.choice([0.5015, 0.6, 0.3], anchors), rng.uniform(0, 0.3, anchors)
    )
    kw: dict[str, Any] = {"scale": 0.0, "zero_point": 0.0}
    if dtype is np.float32:
        raw = values.astype(np.float32)
    else:
        scale, zero = (1 / 250, -128) if dtype is np.int8 else (1 / 250, 0)
        info = np.iinfo(dtype)
        raw = np.clip(np.round(values / scale + zero), info.min, info.max).astype(dtype)
        kw = {"scale": scale, "zero_point": float(zero)}
    if layout == "rows":
        raw = np.ascontiguousarray(np.insert(raw.T[:300], 5, 0, axis=1))  # a class column: 57 wide
        kw |= {"channels_first": False, "kp_start": 6, "corners": False, "nms": False}
    return raw, kw


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.uint8])
@pytest.mark.parametrize("layout", ["grid", "rows"])
@pytest.mark.parametrize("seed", range(4))
def test_numba_and_numpy_agree(dtype: type, layout: str, seed: int) -> None:
    raw, kw = random_case(np.random.default_rng(seed), dtype, layout)
    mapping = np.array([-12.5, 1.7, -3.0, 1.6, 500.0, 400.0])
    a = run(NUMBA, raw, mapping=mapping, in_w=320.0, in_h=320.0, **kw)
    b = run(NUMPY, raw, mapping=mapping, in_w=320.0, in_h=320.0, **kw)
    assert a[3] and b[3] and len(a[2]) > 1
    for x, y in zip(a[:3], b[:3], strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype == np.float32
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-4)


def test_the_compiled_kernel_uses_the_shared_flags() -> None:
    from edgepose.kernels import yolo_pose_compiled

    kernels = [v for v in vars(yolo_pose_compiled).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert len(kernels) >= 4
    for kernel in kernels:
        options = kernel.targetoptions
        assert options["nopython"] and options["nogil"], kernel.__name__
        assert set(options["fastmath"]) == set(FASTMATH), kernel.__name__
        assert kernel._cache.__class__.__name__ != "NullCache", f"{kernel.__name__} is not cached"


# --- the input: Ultralytics' letterbox, value range and layout -----------------------------------


def ultralytics_letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, int, int]:
    """Ultralytics' ``LetterBox`` for a square input, written from its description: scale, resize
    (OpenCV bilinear), pad with 114 at left = round(dw / 2 - 0.1), top = round(dh / 2 - 0.1)."""
    import cv2

    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    left, top = round((size - nw) / 2 - 0.1), round((size - nh) / 2 - 0.1)
    out = np.full((size, size, 3), 114, np.uint8)
    out[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, left, top


@pytest.mark.parametrize(("width", "height"), [(500, 610), (640, 480), (483, 640), (1000, 300), (320, 320)])
def test_the_letterbox_is_ultralytics_own(width: int, height: int) -> None:
    """Pixel for pixel, including a half-pixel width (483 x 0.5) with an odd left padding."""
    image = np.random.default_rng(width).integers(0, 256, (height, width, 3), np.uint8)
    expected, left, top = ultralytics_letterbox(image, 320)
    region = letterbox(width, height, 320, 320)
    buffer = np.zeros((320, 320, 3), np.uint8)  # a reused buffer: its padding is written too
    np.testing.assert_array_equal(cut(image, region, 320, 320, buffer, pad=114), expected)
    origin = region.to_source(np.array([[left / 320, top / 320]], np.float32))[0]
    np.testing.assert_allclose(origin, [0, 0], atol=1e-3)


def test_unit_inputs_in_either_layout_and_quantized() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), np.uint8)
    nchw = to_input_dtype(rgb, np.dtype(np.float32), value_range="unit", channels_first=True)
    assert nchw.shape == (1, 3, 4, 5) and nchw.flags.c_contiguous
    np.testing.assert_array_equal(nchw[0], rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    nhwc = to_input_dtype(rgb, np.dtype(np.float32), value_range="unit")
    np.testing.assert_array_equal(nhwc[0], rgb / np.float32(255))
    int8 = to_input_dtype(rgb, np.dtype(np.int8), 1 / 255, -128, "unit", True)
    np.testing.assert_array_equal(int8[0], rgb.transpose(2, 0, 1).astype(int) - 128)
    coarse = to_input_dtype(rgb, np.dtype(np.uint8), 2 / 255, 3, "unit")
    np.testing.assert_array_equal(coarse[0], np.clip(np.round(rgb / 2 + 3), 0, 255))


# --- golden: the shared files against Ultralytics' own predictions --------------------------------


@pytest.mark.parametrize("size", [320, 640])
@pytest.mark.parametrize("image_name", IMAGES)
def test_float32_matches_ultralytics(models_dir: Path, shared: Path, size: int, image_name: str) -> None:
    image = read_image(shared / "images" / image_name)
    found = estimate(yolo_file(models_dir, size, "float32"), image)
    people = reference(models_dir, size, "float32", image_name, image.shape[1], image.shape[0])
    assert len(found) == len(people)
    for person in people:
        d = distances(found, person)
        assert d.mean() <= 0.5 and d.max() <= 2.0, d


@pytest.mark.parametrize("size", [320, 640])
@pytest.mark.parametrize("image_name", IMAGES)
def test_int8_finds_every_reference_person(models_dir: Path, shared: Path, size: int, image_name: str) -> None:
    """The int8 files tie tens of candidates per person; Ultralytics keeps whichever its unstable
    sort puts first, edgepose the lowest anchor. Where the two agree (squat.bmp) the poses are the
    same; elsewhere each reference person is another of its tied candidates, a few pixels away."""
    image = read_image(shared / "images" / image_name)
    found = estimate(yolo_file(models_dir, size, "int8"), image)
    people = reference(models_dir, size, "int8", image_name, image.shape[1], image.shape[0])
    assert len(found) == len(people)
    for person in people:
        d = distances(found, person)
        assert d.max() <= 16.0 and d.mean() <= (3.0 if image_name == "squat.bmp" else 6.0), d


# --- other builds of the same network: NHWC input, int8 input and output --------------------------


def cut_io(path: Path, ops_at_input: tuple[str, ...], dequantize_output: bool) -> ModelFile:
    """The model with the ops named in ``ops_at_input`` removed from its input side (each in turn:
    the tensor it made becomes the input) and, with ``dequantize_output``, its final DEQUANTIZE
    (the int8 tensor before it becomes the output): an Edge TPU-style int8-in, int8-out build, or an
    NHWC build as older exports give, of the very same network."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    content = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    for buffer in model.buffers:  # data stored after the flatbuffer (by file offset) goes inside it
        if buffer.offset > 1:
            buffer.data = np.frombuffer(content, np.uint8, buffer.size, buffer.offset)
            buffer.offset = buffer.size = 0
    graph = model.subgraphs[0]
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

    def name(op: Any) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return names[max(code.builtinCode, code.deprecatedBuiltinCode)]

    for wanted in ops_at_input:
        (op,) = [o for o in graph.operators if int(o.inputs[0]) == int(graph.inputs[0])]
        assert name(op) == wanted, name(op)
        graph.operators.remove(op)
        graph.inputs = [int(op.outputs[0])]
    if dequantize_output:
        (op,) = [o for o in graph.operators if int(o.outputs[0]) == int(graph.outputs[0])]
        assert name(op) == "DEQUANTIZE"
        graph.operators.remove(op)
        graph.outputs = [int(op.inputs[0])]
    builder = flatbuffers.Builder(len(content) + (1 << 20))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return ModelFile(path.with_name(path.stem + "_cut.tflite"), bytes(builder.Output()), ())


@pytest.mark.parametrize(
    ("kind", "ops", "dequantize", "dtype", "shape"),
    [
        ("float32", ("TRANSPOSE",), False, np.float32, (1, 320, 320, 3)),
        ("int8", ("QUANTIZE",), True, np.int8, (1, 3, 320, 320)),
        ("int8", ("QUANTIZE", "TRANSPOSE"), True, np.int8, (1, 320, 320, 3)),
    ],
    ids=["float-nhwc", "int8-io-nchw", "int8-io-nhwc"],
)
def test_other_builds_give_the_same_poses(
    models_dir: Path, shared: Path, kind: str, ops: tuple[str, ...], dequantize: bool, dtype: type, shape: tuple
) -> None:
    path = yolo_file(models_dir, 320, kind)
    model = cut_io(path, ops, dequantize)
    engine = LiteRtEngine(model, threads=2)
    assert engine.input.shape == shape and engine.input.dtype == dtype
    if dequantize:
        assert engine.outputs[0].dtype == np.int8 and engine.outputs[0].quantized
    image = read_image(shared / "images" / "posenet_test_image.bmp")
    expected = estimate(path, image)
    np.testing.assert_allclose(estimate(model, image), expected, atol=0.05)


# --- the end-to-end layout, on a model built here -------------------------------------------------


def end2end_model(rows: np.ndarray, size: int = 64) -> ModelFile:
    """A model with a float32 NCHW ``[1, 3, size, size]`` input whose one output ``[1, K, 57]`` is
    ``rows`` (plus 0 x one input pixel, so the graph reads its input): an end-to-end YOLO-pose
    output the test chooses, through a real interpreter."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    model.operatorCodes = []
    graph = schema.SubGraphT()
    graph.tensors, graph.operators = [], []

    def tensor(name: str, shape: tuple[int, ...], data: np.ndarray | None = None, kind: int = 0) -> int:
        buffer = schema.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        model.buffers.append(buffer)
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), list(shape), kind, len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def op(builtin: int, inputs: list[int], outputs: list[int], options: tuple[int, Any] | None = None) -> None:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = builtin
        code.version = 1
        model.operatorCodes.append(code)
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = len(model.operatorCodes) - 1, inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options
        graph.operators.append(o)

    int32 = schema.TensorType.INT32
    image = tensor("images", (1, 3, size, size))
    begin = tensor("begin", (4,), np.zeros(4, np.int32), int32)
    extent = tensor("size", (4,), np.ones(4, np.int32), int32)
    pixel = tensor("pixel", (1, 1, 1, 1))
    op(
        schema.BuiltinOperator.SLICE,
        [image, begin, extent],
        [pixel],
        (schema.BuiltinOptions.SliceOptions, schema.SliceOptionsT()),
    )
    zero = tensor("zero", (1, 1, 1, 1), np.zeros((1, 1, 1, 1), np.float32))
    nothing = tensor("nothing", (1, 1, 1, 1))
    op(schema.BuiltinOperator.MUL, [pixel, zero], [nothing], (schema.BuiltinOptions.MulOptions, schema.MulOptionsT()))
    base = tensor("rows", (1, 1, *rows.shape), rows.astype(np.float32)[None, None])
    wide = tensor("wide", (1, 1, *rows.shape))
    op(schema.BuiltinOperator.ADD, [base, nothing], [wide], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
    shape = tensor("shape", (3,), np.array([1, *rows.shape], np.int32), int32)
    out = tensor("output0", (1, *rows.shape))
    op(schema.BuiltinOperator.RESHAPE, [wide, shape], [out])
    graph.inputs, graph.outputs = [image], [out]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return ModelFile(Path("yolo26n-pose-like.tflite"), bytes(builder.Output()), ())


def end2end_rows(pixels: bool) -> np.ndarray:
    """Two people and 298 empty rows, x1, y1, x2, y2 normalized to a 64 x 64 input (or in its pixels)."""
    rows = np.zeros((300, 57), np.float32)
    rows[0, :6] = 0.25, 0.125, 0.5, 0.875, 0.9, 0.0
    rows[1, :6] = 0.5, 0.25, 0.75, 0.75, 0.6, 0.0
    rows[:2, 6::3] = np.linspace(0.3, 0.7, 17)
    rows[:2, 7::3] = np.linspace(0.2, 0.8, 17)
    rows[:2, 8::3] = 0.8
    if pixels:
        rows[:2, [0, 1, 2, 3]] *= 64
        rows[:2, 6::3] *= 64
        rows[:2, 7::3] *= 64
    return rows


@pytest.mark.parametrize("pixels", [False, True], ids=["normalized", "pixels"])
def test_an_end_to_end_model_decodes_to_source_pixels(pixels: bool) -> None:
    """128 x 64 frame: r = 0.5, resized to 64 x 32, top padding 16; x_src = x_in * 2, y_src = (y_in - 16) * 2."""
    engine = LiteRtEngine(end2end_model(end2end_rows(pixels)), threads=1)
    estimator = PoseEstimator(engine, DecoderConfig())
    assert estimator.decoder.format == "yolo_pose_end2end"
    image = np.full((64, 128, 3), 80, np.uint8)
    result = estimator.estimate(Frame(image, 0, 0.0, 0.0))
    assert [p.score for p in result.poses] == pytest.approx([0.9, 0.6])
    first = result.poses[0]
    assert first.box == pytest.approx((32.0, 0.0, 64.0, 64.0))  # y clipped to the frame: (8 - 16) * 2 < 0
    x_in, y_in = np.linspace(0.3, 0.7, 17) * 64, np.linspace(0.2, 0.8, 17) * 64
    np.testing.assert_allclose(first.keypoints[:, 0], x_in * 2, atol=1e-3)
    np.testing.assert_allclose(first.keypoints[:, 1], np.clip((y_in - 16) * 2, 0, 64), atol=1e-3)


# --- through the CLI and models inspect -----------------------------------------------------------


def test_run_on_the_int8_file_gives_the_reference_person(models_dir: Path, squat_path: Path) -> None:
    model = str(yolo_file(models_dir, 320, "int8"))
    proc = run_cli("run", "--model", model, "--source", str(squat_path), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    (doc,) = parse_documents(proc.stdout)
    found = np.array([p["keypoints"] for p in doc["poses"]])
    (person,) = reference(models_dir, 320, "int8", "squat.bmp", doc["width"], doc["height"])
    d = distances(found, person)
    assert d.mean() <= 0.5 and d.max() <= 2.0, d


@pytest.mark.parametrize("size", [320, 640])
@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_models_inspect_names_the_format(models_dir: Path, size: int, kind: str) -> None:
    info = inspect_model(yolo_file(models_dir, size, kind))
    assert info.format == "yolo_pose" and info.decoder and info.ignored == ()
    assert info.inputs[0].shape == (1, 3, size, size)


def test_bench_times_the_invoke_of_an_nchw_model(models_dir: Path, squat_path: Path) -> None:
    """The invoke column feeds the model the input the estimator would (NCHW, letterboxed, 0..1)."""
    model = str(yolo_file(models_dir, 320, "int8"))
    args = ("--threads", "2", "--frames", "3", "--warmup", "1", "--source", str(squat_path))
    proc = run_cli("bench", "--models", model, *args)
    assert proc.returncode == 0, proc.stderr
    assert "| yolo11n-pose_320_int8 |" in proc.stdout and "failed" not in proc.stdout


def test_a_quantized_end_to_end_output_decodes_like_its_float_values() -> None:
    """An Edge TPU-style int8 ``[1, 300, 57]`` output: dequantized with its own scale and zero point."""
    rows = end2end_rows(pixels=False)
    scale, zero = 1 / 200, -100
    quantized = np.clip(np.round(rows / scale + zero), -128, 127).astype(np.int8)[None]
    spec = TensorSpec("output0", 1, (1, 300, 57), np.dtype(np.int8), scale, zero)
    float_spec = TensorSpec("output0", 1, (1, 300, 57), np.dtype(np.float32))
    nhwc = TensorSpec("images", 0, (1, 64, 64, 3), np.dtype(np.int8), 1 / 255, -128)
    region = letterbox(128, 64, 64, 64)
    decoder = choose_decoder(FORMATS, [spec], nhwc, DecoderConfig())
    assert decoder.format == "yolo_pose_end2end"
    got = decoder.decode([quantized], region)
    dequantized = ((quantized.astype(np.float32) - zero) * np.float32(scale)).astype(np.float32)
    want = choose_decoder(FORMATS, [float_spec], nhwc, DecoderConfig()).decode([dequantized], region)
    assert [p.score for p in got] == pytest.approx([p.score for p in want]) and len(got) == 2
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
