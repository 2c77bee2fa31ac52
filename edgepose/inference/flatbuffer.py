"""The few fields of a .tflite flatbuffer that loading a model reads, without the generated schema.

``ai_edge_litert.schema_py_generated`` (a class per table, a method per field) costs the daemon
about 3 MB of memory for as long as it runs; loading a model reads only the operator codes' custom
names, the first subgraph's operators, inputs and outputs, and its tensors' names, shapes and
types. This reader takes them with ``flatbuffers``' own :class:`~flatbuffers.table.Table`. The
field slots are those of ``tensorflow/compiler/mlir/lite/schema/schema.fbs`` (a slot is 4 + 2 x the
field's id); the schema only ever adds fields, so they do not move. Rewrites that need the whole
object model (:func:`~edgepose.inference.surgery.strip_posenet_decoder`) still use the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flatbuffers.number_types import Int8Flags, Int32Flags
from flatbuffers.table import Table as FlatTable

# Field slots (vtable offsets).
MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_SIGNATURE_DEFS = 6, 8, 18
CODE_DEPRECATED_BUILTIN, CODE_CUSTOM, CODE_BUILTIN = 4, 6, 10
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 4, 6, 8, 10
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_NAME = 4, 6, 10
OPERATOR_OPCODE_INDEX, OPERATOR_INPUTS, OPERATOR_OUTPUTS = 4, 6, 8
SIGNATURE_OUTPUTS, SIGNATURE_SUBGRAPH = 6, 12
TENSOR_MAP_INDEX = 6

# schema.fbs TensorType -> NumPy (the types a model's inputs and outputs can have here).
DTYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
}


class Table:
    """One flatbuffer table: its scalars, strings, vectors and sub-tables by field slot."""

    def __init__(self, buffer: bytes | bytearray, position: int) -> None:
        self.buffer = buffer
        self.tab = FlatTable(buffer, position)

    @classmethod
    def root(cls, buffer: bytes | bytearray) -> Table:
        return cls(buffer, int.from_bytes(buffer[0:4], "little"))

    def int8(self, slot: int, default: int = 0) -> int:
        offset = self.tab.Offset(slot)
        return int(self.tab.Get(Int8Flags, self.tab.Pos + offset)) if offset else default

    def int32(self, slot: int, default: int = 0) -> int:
        offset = self.tab.Offset(slot)
        return int(self.tab.Get(Int32Flags, self.tab.Pos + offset)) if offset else default

    def string(self, slot: int) -> str:
        offset = self.tab.Offset(slot)
        return bytes(self.tab.String(self.tab.Pos + offset)).decode("utf-8", "replace") if offset else ""

    def ints(self, slot: int) -> np.ndarray:
        """A vector of int32 (shapes, tensor indices); empty when absent."""
        offset = self.tab.Offset(slot)
        return self.tab.GetVectorAsNumpy(Int32Flags, offset) if offset else np.zeros(0, np.int32)

    def tables(self, slot: int) -> list[Table]:
        offset = self.tab.Offset(slot)
        if not offset:
            return []
        start = self.tab.Vector(offset)
        return [Table(self.buffer, self.tab.Indirect(start + 4 * i)) for i in range(self.tab.VectorLen(offset))]

    def vector(self, slot: int) -> tuple[int, int] | None:
        """(position of the first element, length) of a vector field, for an in-place rewrite; None when absent."""
        offset = self.tab.Offset(slot)
        return (self.tab.Vector(offset), self.tab.VectorLen(offset)) if offset else None


@dataclass(frozen=True)
class Tensor:
    """A tensor's name, shape and dtype as the file declares them."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


def tensor(table: Table) -> Tensor:
    kind = DTYPES.get(table.int8(TENSOR_TYPE), "void")
    return Tensor(table.string(TENSOR_NAME), tuple(int(d) for d in table.ints(TENSOR_SHAPE)), np.dtype(kind))


def custom_codes(content: bytes | bytearray) -> tuple[str, ...]:
    """The custom-op name of every operator code, in code order ("" for a builtin op)."""
    return tuple(code.string(CODE_CUSTOM) for code in Table.root(content).tables(MODEL_OPERATOR_CODES))


def first_subgraph(content: bytes | bytearray) -> Table:
    return Table.root(content).tables(MODEL_SUBGRAPHS)[0]


def inputs_and_outputs(content: bytes | bytearray) -> tuple[list[Tensor], list[Tensor]]:
    """The first subgraph's input and output tensors, in order."""
    graph = first_subgraph(content)
    tensors = graph.tables(SUBGRAPH_TENSORS)
    return (
        [tensor(tensors[int(i)]) for i in graph.ints(SUBGRAPH_INPUTS)],
        [tensor(tensors[int(i)]) for i in graph.ints(SUBGRAPH_OUTPUTS)],
    )
