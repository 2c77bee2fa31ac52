"""BlazePose's landmark model is loaded without the segmentation branch nobody reads.

The mask ``[1, 256, 256, 1]`` is the end of an upsampling path at full resolution; cut off before
the interpreter is built (``edgepose.inference.unread``), the interpreter neither holds its
activations nor computes it, and every output that is read is the same number as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig, ModelConfig
from edgepose.errors import InputError
from edgepose.estimation.blazepose import BlazePoseEstimator, PoseDetector, open_detector
from edgepose.frame import Frame
from edgepose.inference.accelerator import open_engine
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.runtime import import_runtime
from edgepose.inference.surgery import drop_outputs
from edgepose.inference.unread import unread_outputs, without_unread_outputs

LANDMARK_MODELS = ("pose_landmark_lite", "pose_landmark_full")
MASK = "Identity_2"  # the segmentation output of MediaPipe's landmark models


def operators(content: bytes) -> int:
    from ai_edge_litert import schema_py_generated as schema

    return schema.Model.GetRootAs(content, 0).Subgraphs(0).OperatorsLength()


def run(content: bytes, tensor: np.ndarray) -> dict[str, np.ndarray]:
    interpreter = import_runtime().Interpreter(model_content=content, num_threads=2)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
    interpreter.invoke()
    return {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> PoseDetector:
    return open_detector(models_dir / "pose_detection.tflite", threads=2)


@pytest.mark.parametrize("name", LANDMARK_MODELS)
def test_the_mask_branch_is_cut_and_the_outputs_read_are_the_same_numbers(models_dir: Path, name: str) -> None:
    content = (models_dir / f"{name}.tflite").read_bytes()
    stripped = drop_outputs(content, [MASK])
    assert stripped.output_names == ("Identity", "Identity_1", "Identity_3", "Identity_4")
    assert operators(stripped.content) < operators(content) - 40  # the upsampling path to 256x256 is gone
    tensor = np.random.default_rng(7).random((1, 256, 256, 3), dtype=np.float32)
    before, after = run(content, tensor), run(stripped.content, tensor)
    assert sorted(before) == sorted([*after, MASK])
    for output, values in after.items():
        np.testing.assert_array_equal(values, before[output], err_msg=output)


def test_dropping_an_output_the_model_lacks_is_refused(models_dir: Path) -> None:
    content = (models_dir / "pose_landmark_lite.tflite").read_bytes()
    with pytest.raises(InputError, match="no output segmentation"):
        drop_outputs(content, ["segmentation"])


def test_only_blazepose_has_outputs_to_cut(models_dir: Path, movenet_path: Path) -> None:
    lite = read_model(models_dir / "pose_landmark_lite.tflite")
    assert unread_outputs(lite) == (MASK,)
    for other in (movenet_path, models_dir / "pose_detection.tflite"):
        model = read_model(other)
        assert unread_outputs(model) == ()
        assert without_unread_outputs(model) is model


@pytest.mark.parametrize("name", LANDMARK_MODELS)
def test_the_cpu_engine_loads_a_landmark_model_without_its_mask(models_dir: Path, name: str) -> None:
    config = ModelConfig(name=f"{name}.tflite", accelerator="cpu", threads=2)
    choice = open_engine(config, [models_dir])
    try:
        assert [o.name for o in choice.engine.outputs] == ["Identity", "Identity_1", "Identity_3", "Identity_4"]
        assert choice.engine.engine.dropped_outputs == (MASK,)
    finally:
        choice.engine.close()


def test_the_estimator_still_lists_the_mask_as_not_read(models_dir: Path, detector: PoseDetector) -> None:
    choice = open_engine(ModelConfig(name="pose_landmark_lite.tflite", accelerator="cpu", threads=2), [models_dir])
    try:
        estimator = BlazePoseEstimator(choice.engine, detector, DecoderConfig(), "pose_landmark_lite")
        assert estimator.decoder.ignored_outputs == (MASK,)
    finally:
        choice.engine.close()


@pytest.mark.parametrize("name", LANDMARK_MODELS)
def test_poses_are_identical_with_the_mask_cut(
    models_dir: Path, detector: PoseDetector, squat_rgb: np.ndarray, name: str
) -> None:
    model = read_model(models_dir / f"{name}.tflite")
    whole = BlazePoseEstimator(LiteRtEngine(model, 2), detector, DecoderConfig(), name)
    cut = BlazePoseEstimator(LiteRtEngine(without_unread_outputs(model), 2), detector, DecoderConfig(), name)
    frame = Frame(squat_rgb, 0, 0.0, 0.0)
    (expected,) = whole.estimate(frame).poses
    (pose,) = cut.estimate(frame).poses
    np.testing.assert_array_equal(pose.keypoints, expected.keypoints)
    np.testing.assert_array_equal(pose.landmarks, expected.landmarks)
    np.testing.assert_array_equal(pose.world, expected.world)
    assert pose.score == expected.score


def test_the_reader_sees_what_the_schema_sees(models_dir: Path, posenet_path: Path) -> None:
    from ai_edge_litert import schema_py_generated as schema

    from edgepose.inference import flatbuffer

    for path in [posenet_path, *sorted(models_dir.glob("*.tflite"))]:
        content = path.read_bytes()
        model = schema.Model.GetRootAs(content, 0)
        codes = [model.OperatorCodes(i).CustomCode() or b"" for i in range(model.OperatorCodesLength())]
        assert flatbuffer.custom_codes(content) == tuple(c.decode() for c in codes), path.name
        graph = model.Subgraphs(0)
        inputs, outputs = flatbuffer.inputs_and_outputs(content)
        for found, indices in ((inputs, graph.InputsAsNumpy()), (outputs, graph.OutputsAsNumpy())):
            tensors = [graph.Tensors(int(i)) for i in indices]
            assert [t.name for t in found] == [t.Name().decode() for t in tensors], path.name
            assert [t.shape for t in found] == [tuple(int(d) for d in t.ShapeAsNumpy()) for t in tensors]
    dtypes = {
        "pose_landmark_lite": np.float32,
        "pose_detection": np.float32,
        "movenet_single_pose_lightning_ptq": np.uint8,
    }
    for stem, dtype in dtypes.items():
        inputs, outputs = flatbuffer.inputs_and_outputs((models_dir / f"{stem}.tflite").read_bytes())
        assert inputs[0].dtype == dtype and all(o.dtype == np.float32 for o in outputs), stem


def test_loading_a_model_leaves_the_generated_schema_unimported(models_dir: Path) -> None:
    """The schema module holds about 3 MB for the daemon's life; loading reads the few fields itself."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from edgepose.inference.modelfile import read_model\n"
        "from edgepose.inference.unread import without_unread_outputs\n"
        f"model = without_unread_outputs(read_model({str(models_dir / 'pose_landmark_lite.tflite')!r}))\n"
        "assert model.dropped_outputs, model\n"
        "heavy = ('schema_py_generated', 'edgepose.modelstore')\n"
        "print(sorted(m for m in sys.modules if any(h in m for h in heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_files_bytes_are_freed_once_the_cut_model_is_loaded(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not left to the cyclic collector: a missing Edge TPU variant's error, kept with its traceback,
    held the loading frames and the file's bytes until the collector ran, after the interpreters."""
    import gc
    import weakref

    from edgepose.inference import accelerator

    read: list[weakref.ref] = []

    def recording(path: Path):
        model = read_model(path)
        read.append(weakref.ref(model))
        return model

    monkeypatch.setattr(accelerator, "read_model", recording)
    gc.collect()
    gc.disable()
    try:
        choice = open_engine(ModelConfig(name="pose_landmark_lite.tflite", accelerator="cpu", threads=1), [models_dir])
        assert read and [r() for r in read] == [None] * len(read)
        assert choice.engine.engine.dropped_outputs == (MASK,)
    finally:
        gc.enable()
    choice.engine.close()


def test_a_frame_without_a_region_is_answered_with_zeros_that_take_no_memory(models_dir: Path) -> None:
    from edgepose.estimation.blazepose import landmark_engine

    engine = landmark_engine(
        LiteRtEngine(without_unread_outputs(read_model(models_dir / "pose_landmark_lite.tflite")), 1)
    )
    outputs = engine.invoke(engine.no_region)
    assert [o.shape for o in outputs] == [spec.shape for spec in engine.outputs]
    for array in (engine.no_region, *outputs):
        assert not array.any() and not array.flags.writeable
        assert array.strides == (0,) * array.ndim  # one element, broadcast


def test_an_estimator_makes_its_input_buffers_at_its_first_region(
    models_dir: Path, detector: PoseDetector, squat_rgb: np.ndarray
) -> None:
    """The estimator a model is loaded with is the template of each camera's sibling, which cuts the frames."""
    engine = LiteRtEngine(without_unread_outputs(read_model(models_dir / "pose_landmark_lite.tflite")), 1)
    template = BlazePoseEstimator(engine, detector, DecoderConfig(), "pose_landmark_lite")
    camera = template.sibling(DecoderConfig())
    assert template.input_buffers == camera.input_buffers == 0
    assert camera.estimate(Frame(squat_rgb, 0, 0.0, 0.0)).poses
    assert camera.input_buffers == 1 and template.input_buffers == 0  # serial: one pair (test_input_buffers)
