"""PoseNet-family models with outputs no pose decoder reads (long-range offsets, segmentation, part maps).

The model is Coral's PoseNet 353x481 with four outputs added at test time through the flatbuffer
object API, named as BodyPix and PersonLab name theirs: ``float_segments`` (1 channel),
``float_long_offsets`` (34, the short offsets' channel count: only the name tells them apart),
``float_part_heatmaps`` (24) and ``float_part_offsets`` (48). They are slices of the heads, so they
hold real, different values: a decoder that read one in place of a head would find other poses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.errors import InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.frame import Frame
from edgepose.inference.engine import LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import read_model
from edgepose.inference.surgery import POSENET_DECODER_OP, strip_posenet_decoder
from edgepose.modelstore.info import inspect_model
from edgepose.pose import Pose
from edgepose.sources.files import read_image
from tests.builders.cli import run_cli

SOURCE = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
HEADS = ("float_heatmaps", "float_short_offsets", "float_mid_offsets")
# name: (head sliced, first channel, channels)
EXTRAS = {
    "float_segments": ("float_heatmaps", 0, 1),
    "float_long_offsets": ("float_mid_offsets", 0, 34),
    "float_part_heatmaps": ("float_mid_offsets", 40, 24),
    "float_part_offsets": ("float_mid_offsets", 8, 48),
}
EXTRA_NAMES = tuple(EXTRAS)
TFL3 = b"TFL3"


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def add_slices(content: bytes, extras: dict[str, tuple[str, int, int]], outputs: list[str] | None = None) -> bytes:
    """``content`` with one SLICE per extra (channels of a head) made a subgraph output.

    ``outputs`` is the new output order by tensor name (default: the first extra, the model's own
    outputs, then the other extras, so extras sit on both sides).
    """
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    by_name = {_name(t): i for i, t in enumerate(graph.tensors)}
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.SLICE
    code.version = 1
    model.operatorCodes.append(code)
    opcode = len(model.operatorCodes) - 1

    def tensor(name: str, shape: list[int], dtype: int, data: np.ndarray | None = None, like=None) -> int:
        buffer = schema.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(data.tobytes(), np.uint8)
        model.buffers.append(buffer)
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), shape, dtype, len(model.buffers) - 1
        if like is not None and like.quantization is not None:
            q = schema.QuantizationParametersT()
            q.scale, q.zeroPoint = list(like.quantization.scale), list(like.quantization.zeroPoint)
            t.quantization = q
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    for name, (head, first, channels) in extras.items():
        source = graph.tensors[by_name[head]]
        n, h, w, _ = (int(d) for d in source.shape)
        begin = tensor(f"{name}/begin", [4], schema.TensorType.INT32, np.array([0, 0, 0, first], np.int32))
        size = tensor(f"{name}/size", [4], schema.TensorType.INT32, np.array([n, h, w, channels], np.int32))
        out = tensor(name, [n, h, w, channels], source.type, like=source)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = opcode, [by_name[head], begin, size], [out]
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.SliceOptions, schema.SliceOptionsT()
        graph.operators.append(op)
        by_name[name] = out
    if outputs is None:
        own = [_name(graph.tensors[i]) for i in graph.outputs]
        names = list(extras)
        outputs = names[:1] + own + names[1:]
    graph.outputs = [by_name[name] for name in outputs]
    builder = flatbuffers.Builder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=TFL3)
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def source_path(models_dir: Path) -> Path:
    return models_dir / SOURCE


@pytest.fixture(scope="module")
def extra_path(source_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("extra") / "posenet_353_481_with_extras.tflite"
    path.write_bytes(add_slices(source_path.read_bytes(), EXTRAS))
    return path


@pytest.fixture(scope="module")
def image(shared: Path) -> np.ndarray:
    return read_image(shared / "images" / "posenet_test_image.bmp")


def poses_of(path: Path, image: np.ndarray, options: dict | None = None) -> tuple[PoseEstimator, list[Pose]]:
    """The estimator and its poses; ``options``: the decoder op's, for a model that no longer has it."""
    engine = LiteRtEngine(read_model(path), threads=2)
    estimator = PoseEstimator(engine, DecoderConfig(), model_options=options or engine.model.decoder_options)
    return estimator, list(estimator.estimate(Frame(image, 0, 0.0, 0.0)).poses)


def assert_same_poses(ours: list[Pose], theirs: list[Pose]) -> None:
    assert len(ours) == len(theirs) >= 2
    for a, b in zip(ours, theirs, strict=True):
        assert a.score == b.score
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_stripping_the_decoder_op_keeps_the_extra_outputs(extra_path: Path) -> None:
    stripped = strip_posenet_decoder(extra_path.read_bytes(), extra_path)
    assert stripped.output_names == HEADS + EXTRA_NAMES  # the op's inputs first, then the rest in order
    assert stripped.options["stride"] == 16
    model = read_model(extra_path)
    assert POSENET_DECODER_OP in model.custom_ops
    engine = LiteRtEngine(model, threads=2)
    assert [o.name for o in engine.outputs] == list(HEADS + EXTRA_NAMES)
    assert [o.shape[-1] for o in engine.outputs] == [17, 34, 64, 1, 34, 24, 48]


def test_the_extra_outputs_hold_other_values_than_the_heads(extra_path: Path, image: np.ndarray) -> None:
    """Reading float_long_offsets in place of float_short_offsets would change the poses."""
    engine = LiteRtEngine(read_model(extra_path), threads=2)
    outputs = engine.invoke(np.full(engine.input.shape, 100, np.uint8))
    short, long_ = outputs[1], outputs[4]
    assert short.shape == long_.shape and not np.array_equal(short, long_)
    np.testing.assert_array_equal(long_, outputs[2][..., :34])  # the slice the model was given


def test_inspect_names_the_format_and_lists_the_ignored_outputs(extra_path: Path) -> None:
    info = inspect_model(extra_path)
    assert info.format == "posenet_coral" and info.decoder
    assert info.ignored == EXTRA_NAMES
    assert [t.name for t in info.runs_as] == list(HEADS + EXTRA_NAMES)
    out = run_cli("models", "inspect", str(extra_path))
    assert out.returncode == 0, out.stderr
    assert "format:        posenet_coral\n" in out.stdout
    for name in EXTRA_NAMES:
        assert f"ignored:       {name}  (an output the posenet_coral decoder does not read)" in out.stdout
    as_json = json.loads(run_cli("models", "inspect", str(extra_path), "--json").stdout)
    assert as_json["ignored_outputs"] == list(EXTRA_NAMES)


def test_a_model_without_extras_ignores_nothing(source_path: Path) -> None:
    assert inspect_model(source_path).ignored == ()
    assert "ignored:" not in run_cli("models", "inspect", str(source_path)).stdout


def test_poses_equal_the_original_models(source_path: Path, extra_path: Path, image: np.ndarray) -> None:
    original_estimator, original = poses_of(source_path, image)
    estimator, poses = poses_of(extra_path, image)
    assert estimator.decoder.format == original_estimator.decoder.format == "posenet_coral"
    assert estimator.decoder.ignored_outputs == EXTRA_NAMES and original_estimator.decoder.ignored_outputs == ()
    assert_same_poses(poses, original)


def test_extras_before_the_heads_and_long_offsets_first(source_path: Path, tmp_path: Path, image: np.ndarray) -> None:
    """A model already without the op, its outputs in another order: the heads are found by name and shape."""
    stripped = strip_posenet_decoder(source_path.read_bytes(), source_path)
    order = [
        "float_long_offsets",
        "float_part_offsets",
        "float_mid_offsets",
        "float_segments",
        "float_short_offsets",
        "float_part_heatmaps",
        "float_heatmaps",
    ]
    path = tmp_path / "reordered.tflite"
    path.write_bytes(add_slices(stripped.content, EXTRAS, order))
    estimator, poses = poses_of(path, image, stripped.options)
    assert [o.name for o in estimator.engine.outputs] == order
    assert estimator.decoder.format == "posenet_coral"
    assert estimator.decoder.ignored_outputs == (
        "float_long_offsets",
        "float_part_offsets",
        "float_segments",
        "float_part_heatmaps",
    )
    assert_same_poses(poses, poses_of(source_path, image)[1])


# Layout detection on output specs alone (no interpreter).


def spec(name: str, channels: int, grid: tuple[int, int] = (23, 31), index: int = 0) -> TensorSpec:
    return TensorSpec(name, index, (1, *grid, channels), np.dtype(np.uint8), 0.5, 128)


INPUT = TensorSpec("input", 0, (1, 353, 481, 3), np.dtype(np.uint8), 1 / 128, 128)


def matching(outputs: list[TensorSpec]) -> tuple[str, tuple[str, ...]] | None:
    """(format name, ignored outputs) of the first format that matches, as choose_decoder picks."""
    for fmt in FORMATS:
        if fmt.matches(outputs, INPUT):
            return fmt.name, fmt.ignored(outputs)
    return None


def test_anonymous_outputs_are_found_by_shape_when_one_fits_each_role() -> None:
    outputs = [
        spec("Identity_3", 1),
        spec("Identity", 64),
        spec("Identity_1", 17),
        spec("Identity_2", 34),
        spec("Identity_4", 24),
    ]
    assert matching(outputs) == ("posenet_coral", ("Identity_3", "Identity_4"))


def test_two_unnamed_34_channel_outputs_are_refused_not_guessed() -> None:
    outputs = [spec("heatmaps", 17), spec("Identity", 34), spec("Identity_1", 34), spec("mid", 64)]
    assert matching(outputs) is None
    with pytest.raises(InputError, match="unknown output format"):
        choose_decoder(FORMATS, outputs, INPUT, DecoderConfig())


def test_a_multi_person_model_left_unresolved_is_not_decoded_as_one_person() -> None:
    """Two anonymous 64-channel outputs: not Coral's layout, and not single-person PoseNet either."""
    outputs = [spec("float_heatmaps", 17), spec("float_short_offsets", 34), spec("a", 64), spec("b", 64)]
    assert matching(outputs) is None
    assert matching(outputs[:2]) == ("posenet_single", ())
    assert matching([*outputs[:2], spec("float_segments", 1)]) == ("posenet_single", ("float_segments",))


def test_tensorflow_layout_with_bodypix_extras() -> None:
    outputs = [
        spec("float_segments", 1),
        spec("float_part_heatmaps", 24),
        spec("displacement_bwd", 32),
        spec("float_heatmaps", 17),
        spec("float_long_offsets", 34),
        spec("float_short_offsets", 34),
        spec("displacement_fwd", 32),
        spec("float_part_offsets", 48),
    ]
    fmt = next(f for f in FORMATS if f.name == "posenet_tf")
    assert fmt.layout(outputs) == (3, 5, 6, 2)  # heatmaps, short offsets, fwd, bwd
    assert matching(outputs) == (
        "posenet_tf",
        ("float_segments", "float_part_heatmaps", "float_long_offsets", "float_part_offsets"),
    )


def test_outputs_on_another_grid_are_ignored() -> None:
    """A segmentation at twice the resolution with the heads' channel counts is not a head."""
    outputs = [spec("heatmaps", 17), spec("offsets", 34), spec("mid", 64), spec("upsampled", 34, (46, 62))]
    assert matching(outputs) == ("posenet_coral", ("upsampled",))


def test_meta_carries_the_ignored_outputs(source_path: Path, extra_path: Path, image: np.ndarray) -> None:
    from edgepose.config import load_config
    from edgepose.documents.meta import meta_document
    from edgepose.estimation.loaded import Loaded
    from edgepose.schema import load_schema
    from tests.builders.documents import validate_document

    config = load_config(None, [], env={})
    extra = meta_document(config, Loaded(poses_of(extra_path, image)[0], "extra", extra_path, "cpu"))
    plain = meta_document(config, Loaded(poses_of(source_path, image)[0], "plain", source_path, "cpu"))
    assert extra["ignored_outputs"] == list(EXTRA_NAMES) and extra["format"] == "posenet_coral"
    assert "ignored_outputs" not in plain
    validate_document(extra, "meta.v1.json")
    described = load_schema("meta.v1.json")["properties"]
    assert set(extra) <= set(described), set(extra) - set(described)  # the schema describes every key
