"""Which output quantizations the engine accepts at load: those that dequantize into finite float32.

``(q - zero_point) * scale`` is computed in float32; a scale that is NaN, infinite, negative, or so
large that some code of the dtype overflows, would make every frame's output NaN or inf, so the
model is refused at load (tests/test_bad_input_corpus.py runs one through the CLI).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgepose.inference.engine import TensorSpec, quantization_problem

# (dtype, scale, zero point, refused)
CASES = [
    (np.uint8, 0.0, 0, False),  # not quantized
    (np.uint8, 0.05, 128, False),  # a usual one
    (np.uint8, 1e36, 0, False),  # 255e36 fits under float32's 3.4e38
    (np.uint8, 2e36, 0, True),  # 510e36 does not
    (np.uint8, 1e36, -200, True),  # the zero point widens the span: (255 + 200) * 1e36
    (np.int8, 2e36, 0, False),  # the widest int8 code is -128: 2.56e38
    (np.int16, 1e34, 0, False),  # 32768e34
    (np.int16, 1.1e34, 0, True),
    (np.uint8, math.inf, 0, True),
    (np.uint8, math.nan, 0, True),
    (np.uint8, -0.1, 0, True),  # a negative scale is a corrupt model, not a mirror
    (np.uint8, 1e39, 0, True),  # past float32 altogether
    (np.float32, 1e38, 0, False),  # a float output: its values are checked per frame instead
    (np.float32, math.inf, 0, True),
]


@pytest.mark.parametrize(("dtype", "scale", "zero_point", "refused"), CASES)
def test_quantization_problem(dtype: type, scale: float, zero_point: int, refused: bool) -> None:
    problem = quantization_problem(TensorSpec("out", 0, (1, 17), np.dtype(dtype), scale, zero_point))
    assert (problem is not None) == refused, problem
    if refused:
        assert f"quantization scale of {scale}" in problem  # type: ignore[operator]
