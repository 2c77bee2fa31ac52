"""Tiny TFLite models built at test time with the flatbuffer object API (no weights committed).

:func:`pixel_model` gives outputs of any shape (up to 4-D) whose values the test chooses, and
which turn NaN or inf on the frames the test chooses: each output is

    out = base + bump / float(pixel)

where ``pixel`` is one channel of one input pixel (uint8). With ``bump`` 0 the output is ``base``
on every frame except one whose pixel is 0 (0 / 0: NaN); with ``bump`` > 0 a pixel of 0 makes it
inf. A black frame makes a bad output, a photo a good one, so one run can mix them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TFL3 = b"TFL3"


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as schema

    return schema


class _Builder:
    """Tensors, buffers and operators of one subgraph, appended in order."""

    def __init__(self) -> None:
        self.schema = _schema()
        self.model = self.schema.ModelT()
        self.model.version = 3
        self.model.buffers = [self.schema.BufferT()]  # buffer 0: the empty one, by convention
        self.model.operatorCodes = []
        self.graph = self.schema.SubGraphT()
        self.graph.tensors, self.graph.operators = [], []
        self.codes: dict[int, int] = {}

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: int,
        data: np.ndarray | None = None,
        signature: Sequence[int] | None = None,
    ) -> int:
        buffer = self.schema.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        self.model.buffers.append(buffer)
        t = self.schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), list(shape), dtype, len(self.model.buffers) - 1
        if signature is not None:
            t.shapeSignature = list(signature)
        self.graph.tensors.append(t)
        return len(self.graph.tensors) - 1

    def const(self, name: str, values: np.ndarray) -> int:
        kind = {np.dtype(np.float32): self.schema.TensorType.FLOAT32, np.dtype(np.int32): self.schema.TensorType.INT32}
        return self.tensor(name, values.shape, kind[values.dtype], values)

    def op(
        self,
        builtin: int,
        inputs: list[int],
        outputs: list[int],
        options: tuple[int, Any] | None = None,
        version: int = 1,
    ) -> None:
        if builtin not in self.codes:
            code = self.schema.OperatorCodeT()
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, 127)  # 127: "see builtinCode", for codes past int8
            code.version = version
            self.model.operatorCodes.append(code)
            self.codes[builtin] = len(self.model.operatorCodes) - 1
        op = self.schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = self.codes[builtin], inputs, outputs
        if options is not None:
            op.builtinOptionsType, op.builtinOptions = options
        self.graph.operators.append(op)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        import flatbuffers

        self.graph.inputs, self.graph.outputs = inputs, outputs
        self.model.subgraphs = [self.graph]
        builder = flatbuffers.Builder(4096)
        builder.Finish(self.model.Pack(builder), file_identifier=TFL3)
        return bytes(builder.Output())


def pixel_model(
    outputs: Mapping[str, np.ndarray],
    input_shape: Sequence[int] = (1, 192, 192, 3),
    pixel: Sequence[int] | None = (0, 96, 96, 0),
    bump: float = 0.0,
    signature: Sequence[int] | None = None,
    quantization: tuple[float, int] | None = None,
    inputs: int = 1,
) -> bytes:
    """A model with a uint8 input of ``input_shape`` and one float32 output per entry of ``outputs``.

    Output ``name`` is ``outputs[name] + bump / float(input[pixel])`` (see the module docstring).
    ``signature`` is the input's shape signature (-1 for a dynamic dimension); None: none stored.
    ``pixel`` None: the input is read by no op and the outputs are ``outputs`` (any input shape loads).
    ``quantization``: (scale, zero point) stored on every output, as a quantized model states them.
    ``inputs``: how many inputs the model declares (the others are read by no op).
    """
    b = _Builder()
    s = b.schema
    image = b.tensor("image", input_shape, s.TensorType.UINT8, signature=signature)
    others = [b.tensor(f"image_{i}", input_shape, s.TensorType.UINT8) for i in range(1, inputs)]
    if pixel is None:
        ratio = b.const("zero", np.zeros([1, 1, 1, 1], np.float32))
    else:
        begin = b.const("begin", np.array(pixel, np.int32))
        size = b.const("size", np.ones(4, np.int32))
        picked = b.tensor("pixel", [1, 1, 1, 1], s.TensorType.UINT8)
        slice_options = (s.BuiltinOptions.SliceOptions, s.SliceOptionsT())
        b.op(s.BuiltinOperator.SLICE, [image, begin, size], [picked], slice_options)
        value = b.tensor("pixel_float", [1, 1, 1, 1], s.TensorType.FLOAT32)
        b.op(s.BuiltinOperator.CAST, [picked], [value], (s.BuiltinOptions.CastOptions, s.CastOptionsT()))
        numerator = b.const("bump", np.full([1, 1, 1, 1], bump, np.float32))
        ratio = b.tensor("ratio", [1, 1, 1, 1], s.TensorType.FLOAT32)
        b.op(s.BuiltinOperator.DIV, [numerator, value], [ratio], (s.BuiltinOptions.DivOptions, s.DivOptionsT()))
    out = []
    for name, base in outputs.items():
        base = np.asarray(base, np.float32)
        shaped = base.reshape((1,) * (4 - base.ndim) + base.shape) if base.ndim < 4 else base
        constant = b.const(f"{name}/base", shaped)
        result = b.tensor(name, base.shape, s.TensorType.FLOAT32)
        if base.ndim < 4:  # ADD broadcasts to 4-D; reshape back to the output's own rank
            wide = b.tensor(f"{name}/wide", shaped.shape, s.TensorType.FLOAT32)
            b.op(s.BuiltinOperator.ADD, [constant, ratio], [wide], (s.BuiltinOptions.AddOptions, s.AddOptionsT()))
            new_shape = b.const(f"{name}/shape", np.array(base.shape, np.int32))
            b.op(s.BuiltinOperator.RESHAPE, [wide, new_shape], [result])
        else:
            b.op(s.BuiltinOperator.ADD, [constant, ratio], [result], (s.BuiltinOptions.AddOptions, s.AddOptionsT()))
        if quantization is not None:
            params = s.QuantizationParametersT()
            params.scale, params.zeroPoint = [quantization[0]], [quantization[1]]
            b.graph.tensors[result].quantization = params
        out.append(result)
    return b.finish([image, *others], out)


def movenet_single_outputs(score: float = 0.9) -> np.ndarray:
    """``[1, 1, 17, 3]`` of (y, x, score): a plausible standing person, normalized to the input."""
    rows = np.linspace(0.2, 0.8, 17, dtype=np.float32)
    out = np.empty((1, 1, 17, 3), np.float32)
    out[0, 0, :, 0] = rows
    out[0, 0, :, 1] = 0.5 + 0.05 * np.where(np.arange(17) % 2 == 0, 1, -1)
    out[0, 0, :, 2] = score
    return out


def broadcast_model(shape: Sequence[int], input_shape: Sequence[int] = (1, 192, 192, 3)) -> bytes:
    """A model with a small uint8 input whose one float32 output is a zero broadcast to ``shape``:
    a model that asks for more memory than there is, past its input."""
    b = _Builder()
    s = b.schema
    image = b.tensor("image", input_shape, s.TensorType.UINT8)
    zero = b.const("zero", np.zeros([1], np.float32))
    target = b.const("shape", np.array(shape, np.int32))
    out = b.tensor("broadcast", shape, s.TensorType.FLOAT32)
    b.op(s.BuiltinOperator.BROADCAST_TO, [zero, target], [out], version=2)
    return b.finish([image], [out])
