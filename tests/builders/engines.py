"""Stand-ins for an inference engine and a loaded model: MoveNet MultiPose's ``[1, 6, 56]`` outputs
built row by row, and a :class:`Loaded` with no model behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.inference.engine import InferenceEngine, TensorSpec


def model_free_loaded(model_path: Path, model_format: str = "movenet_single"):
    """A :class:`~edgepose.estimation.loaded.Loaded` with no model behind it (a 192x192 input, ``model_format``'s
    decoder): enough for the documents that describe a run (``meta``)."""
    from edgepose.decode.base import Decoder
    from edgepose.estimation.loaded import Loaded

    class Spec:
        shape = (1, 192, 192, 3)

    class Engine:
        input = Spec()

    class FormatOnly(Decoder):
        format = model_format

    class Estimator:
        engine, decoder = Engine(), FormatOnly()

    return Loaded(Estimator(), "m", model_path, "cpu")  # type: ignore[arg-type]


OUT = TensorSpec("output_0", 0, (1, 6, 56), np.dtype(np.float32))


def row(y0: float, x0: float, y1: float, x1: float, score: float) -> np.ndarray:
    """A person whose 17 keypoints lie on the box diagonal, normalized to the input."""
    t = np.linspace(0, 1, 17)
    kps = np.stack([y0 + t * (y1 - y0), x0 + t * (x1 - x0), np.full(17, 0.8)], axis=1)
    return np.concatenate([kps.reshape(-1), [y0, x0, y1, x1, score]]).astype(np.float32)


def outputs(*rows: np.ndarray) -> list[np.ndarray]:
    raw = np.zeros((1, 6, 56), np.float32)
    for i, r in enumerate(rows):
        raw[0, i] = r
    return [raw]


class FakeEngine(InferenceEngine):
    """A stand-in with LiteRT's dynamic-input behaviour: resize_input changes the input spec."""

    def __init__(self, rows: list[np.ndarray]) -> None:
        self.input = TensorSpec("input", 0, (1, 1, 1, 3), np.dtype(np.uint8))
        self.outputs = (OUT,)
        self.accelerator = "cpu"
        self.rows = rows
        self.resized: list[tuple[int, ...]] = []
        self.seen: list[tuple[int, ...]] = []

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self.resized.append(shape)
        self.input = TensorSpec("input", 0, tuple(shape), np.dtype(np.uint8))

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.seen.append(tensor.shape)
        return outputs(*self.rows)
