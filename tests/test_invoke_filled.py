"""An input written straight into the interpreter's own input: the same outputs, no copy of ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.estimation.blazepose import open_detector
from edgepose.inference.engine import InferenceEngine, LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import read_model


def test_the_interpreters_input_is_filled_and_gives_the_outputs_of_a_copied_tensor(movenet_path: Path) -> None:
    engine = LiteRtEngine(read_model(movenet_path), threads=1)
    tensor = np.random.default_rng(5).integers(0, 256, engine.input.shape, dtype=np.uint8)
    expected = engine.invoke(tensor)
    given: list[np.ndarray] = []

    def fill(view: np.ndarray) -> None:
        assert view.shape == engine.input.shape and view.dtype == engine.input.dtype
        assert not view.flags.owndata  # the interpreter's memory, not an array of ours
        given.append(view.__array_interface__["data"][0])
        view[...] = tensor

    for _ in range(2):
        outputs = engine.invoke_filled(fill)
        assert all(np.array_equal(a, b) for a, b in zip(outputs, expected, strict=True))
    assert given[0] == given[1]  # the same memory every call


def test_an_engine_without_its_own_input_memory_fills_an_array_and_invokes_it() -> None:
    class Echo(InferenceEngine):
        input = TensorSpec("in", 0, (1, 2, 2, 3), np.dtype(np.float32), 0.0, 0)
        outputs = ()

        def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
            return [tensor.copy()]

    (out,) = Echo().invoke_filled(lambda view: view.fill(0.5))
    assert out.shape == (1, 2, 2, 3) and (out == 0.5).all()


def test_the_person_detector_keeps_no_float_input_of_its_own(models_dir: Path, squat_rgb: np.ndarray) -> None:
    """Its 224x224 float input (600 kB) is the interpreter's: run every frame with nobody in view,
    a copy of it would be memory and a copy a frame for nothing."""
    detector = open_detector(models_dir / "pose_detection.tflite", threads=1)
    assert detector.find(squat_rgb) is not None
    size = int(np.prod(detector.engine.input.shape)) * 4
    kept = [name for name, value in vars(detector).items() if isinstance(value, np.ndarray) and value.nbytes >= size]
    assert kept == []
