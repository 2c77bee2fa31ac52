"""Cutting Coral's ``PosenetDecoderOp`` off a PoseNet model, and outputs nobody reads off any model, in memory.

Coral's PoseNet models end in a custom op that decodes poses; stock LiteRT has no kernel for it
("Encountered unresolved custom op"). The op is a pure function of three tensors the network
already computes (heatmap logits, short offsets, mid offsets), so edgepose removes the node and
makes those three tensors the subgraph's outputs; its decoders then do the op's work. The op's
own parameters (max detections, score threshold, NMS radius, stride) live in its flexbuffer
options and become the decoder's defaults.

:func:`drop_outputs` removes outputs and every operator that only they need: a BlazePose landmark
model's segmentation branch (:mod:`edgepose.inference.unread`) would otherwise be computed each
frame and hold its own 256x256 activations in the interpreter.

The rewrites use the flatbuffer object API of ``ai_edge_litert.schema_py_generated``. Edge TPU
models keep their ``edgetpu-custom-op`` (the delegate runs it); only the decoder node goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepose.errors import InputError

POSENET_DECODER_OP = "PosenetDecoderOp"
TFLITE_IDENTIFIER = b"TFL3"
# The op's options edgepose reads, and the type each is converted to.
OPTION_TYPES: dict[str, type] = {"max_detections": int, "score_threshold": float, "nms_radius": float, "stride": int}


@dataclass(frozen=True)
class StrippedModel:
    """A model without its decoder op: the new bytes, the op's options, the outputs it now has."""

    content: bytes
    options: dict[str, float]
    output_names: tuple[str, ...]


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise InputError(
            f"removing {POSENET_DECODER_OP} needs ai-edge-litert's flatbuffer schema",
            "pip install ai-edge-litert (tflite_runtime has no schema module)",
        ) from None
    return schema


def custom_codes(content: bytes, path: Path | str = "<bytes>") -> tuple[str, ...]:
    """The custom-op name of every operator code of a model, in code order ("" for a builtin op).

    :func:`strip_posenet_decoder` and :func:`read_decoder_options` find the ``PosenetDecoderOp``
    indices in it (:mod:`edgepose.inference.flatbuffer` reads them without the schema).
    :class:`InputError` for a corrupt buffer.
    """
    from edgepose.inference.flatbuffer import custom_codes as read_codes

    try:
        return read_codes(content)
    except Exception as exc:  # a corrupt buffer can fail anywhere inside flatbuffers
        raise InputError(f"{path} is a corrupt TFLite model: {exc}", "re-download the model") from None


def decoder_op_codes(content: bytes, path: Path | str = "<bytes>") -> set[int]:
    """Indices of the ``PosenetDecoderOp`` operator codes of a model (empty when it has none)."""
    return {i for i, name in enumerate(custom_codes(content, path)) if name == POSENET_DECODER_OP}


def decoder_options(custom_options: Any) -> dict[str, float]:
    """The op's parameters from its flexbuffer map; unknown keys are ignored, missing ones absent."""
    from flatbuffers import flexbuffers

    try:
        root = flexbuffers.GetRoot(bytearray(bytes(custom_options))).AsMap
        found = {}
        for key, value in zip(root.Keys, root.Values, strict=True):
            name = key.AsKey
            if name in OPTION_TYPES:
                found[name] = OPTION_TYPES[name](value.Value)
        return found
    except Exception as exc:  # a damaged flexbuffer can fail anywhere inside the reader
        raise InputError(f"{POSENET_DECODER_OP} has unreadable options: {exc}", "re-download the model") from None


def strip_posenet_decoder(content: bytes, path: Path | str = "<bytes>") -> StrippedModel:
    """Remove every ``PosenetDecoderOp`` node; its inputs become the subgraph's outputs, in order.

    Outputs the op did not produce (a PoseNet-family model's segmentation, long-range offsets, ...)
    stay outputs, after the op's inputs and in their own order: the decoder ignores them, and
    ``models inspect`` lists them. Raises :class:`InputError` when the model has no such op or
    cannot be rewritten.
    """
    schema = _schema()
    import flatbuffers

    decoder_codes = decoder_op_codes(content, path)  # the object API keeps the same code order
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception as exc:
        raise InputError(f"{path} is a corrupt TFLite model: {exc}", "re-download the model") from None
    codes = model.operatorCodes or []
    if not decoder_codes:
        raise InputError(f"{path} has no {POSENET_DECODER_OP} to remove")
    options: dict[str, float] = {}
    output_names: list[str] = []
    for subgraph in model.subgraphs or []:
        kept, outputs, produced = [], [], set()
        for op in subgraph.operators or []:
            if op.opcodeIndex in decoder_codes:
                options.update(decoder_options(op.customOptions))
                outputs.extend(int(i) for i in op.inputs)
                produced.update(int(i) for i in op.outputs)
            else:
                kept.append(op)
        if outputs:
            extra = [int(i) for i in (subgraph.outputs if subgraph.outputs is not None else [])]
            outputs += [i for i in extra if i not in produced and i not in outputs]
            subgraph.operators = kept
            subgraph.outputs = outputs
            output_names.extend(_tensor_name(subgraph.tensors[i]) for i in outputs)
    # Drop the op code itself, renumbering the codes the remaining operators point at.
    remap, new_codes = {}, []
    for i, code in enumerate(codes):
        if i not in decoder_codes:
            remap[i] = len(new_codes)
            new_codes.append(code)
    model.operatorCodes = new_codes
    for subgraph in model.subgraphs or []:
        for op in subgraph.operators or []:
            op.opcodeIndex = remap[op.opcodeIndex]
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return StrippedModel(bytes(builder.Output()), options, tuple(output_names))


def drop_outputs(content: bytes, names: Sequence[str], path: Path | str = "<bytes>") -> StrippedModel:
    """The model without the first subgraph's outputs ``names`` and the operators only they need.

    An operator stays when one of its outputs is a kept output or an input of an operator that
    stays (walked backwards, so the kept operators keep their order). Tensors and weights stay in
    the file untouched: a kept operator computes exactly what it did. ``output_names`` are the
    outputs left. Raises :class:`InputError` when a name is not an output or the model cannot be
    rewritten.

    The rewrite is in place on one copy of the bytes: the subgraph's operator and output vectors
    (and a signature's outputs) are compacted and their lengths shortened; the bytes past their new
    ends are left unread. Unpacking the whole model with the object API instead would copy every
    weight into its own array and leave megabytes of freed Python objects in the daemon's heap.
    """
    from edgepose.inference import flatbuffer as fb

    buffer = bytearray(content)
    try:
        model = fb.Table.root(buffer)
        graph = model.tables(fb.MODEL_SUBGRAPHS)[0]
        tensors = graph.tables(fb.SUBGRAPH_TENSORS)
        outputs = [int(i) for i in graph.ints(fb.SUBGRAPH_OUTPUTS)]
        named = {tensors[i].string(fb.TENSOR_NAME): i for i in outputs}
        missing = [n for n in names if n not in named]
        if missing:
            raise InputError(f"{path} has no output {', '.join(missing)} to remove")
        kept = [i for i in outputs if tensors[i].string(fb.TENSOR_NAME) not in names]
        operators = graph.tables(fb.SUBGRAPH_OPERATORS)
        needed, keep = set(kept), []
        for k in reversed(range(len(operators))):
            if any(int(o) in needed for o in operators[k].ints(fb.OPERATOR_OUTPUTS)):
                keep.append(k)
                needed.update(int(i) for i in operators[k].ints(fb.OPERATOR_INPUTS) if i >= 0)  # -1: left out
        _compact(buffer, graph.vector(fb.SUBGRAPH_OPERATORS), keep[::-1], offsets=True)
        _compact(buffer, graph.vector(fb.SUBGRAPH_OUTPUTS), [outputs.index(i) for i in kept], offsets=False)
        for signature in model.tables(fb.MODEL_SIGNATURE_DEFS):  # it must not name a tensor nobody computes
            if signature.int32(fb.SIGNATURE_SUBGRAPH) == 0:
                maps = signature.tables(fb.SIGNATURE_OUTPUTS)
                still = [j for j, m in enumerate(maps) if m.int32(fb.TENSOR_MAP_INDEX) in kept]
                _compact(buffer, signature.vector(fb.SIGNATURE_OUTPUTS), still, offsets=True)
        output_names = tuple(tensors[i].string(fb.TENSOR_NAME) for i in kept)
    except InputError:
        raise
    except Exception as exc:  # a corrupt buffer can fail anywhere inside flatbuffers
        raise InputError(f"{path} is a corrupt TFLite model: {exc}", "re-download the model") from None
    return StrippedModel(bytes(buffer), {}, output_names)


def _compact(buffer: bytearray, vector: tuple[int, int] | None, keep: Sequence[int], offsets: bool) -> None:
    """Keep elements ``keep`` (ascending) of a vector of 4-byte elements (its first element's position
    and length), in order, at its start, and shorten its length. ``offsets``: the elements are
    offsets to tables, counted from each element's own position, so a moved one is re-aimed at the
    same table."""
    if vector is None:
        return
    start, _length = vector
    for slot, index in enumerate(keep):
        value = int.from_bytes(buffer[start + 4 * index : start + 4 * index + 4], "little")
        if offsets:
            value += 4 * (index - slot)
        buffer[start + 4 * slot : start + 4 * slot + 4] = value.to_bytes(4, "little")
    buffer[start - 4 : start] = len(keep).to_bytes(4, "little")


def _tensor_name(tensor: Any) -> str:
    name = tensor.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def read_decoder_options(content: bytes) -> dict[str, float]:
    """The ``PosenetDecoderOp`` options of a model file, read without rewriting it ({} when it has none).

    For callers that hold the original file, not the stripped :class:`~edgepose.inference.modelfile.ModelFile`
    (whose ``decoder_options`` are these, read once when the file is read).
    """
    codes = decoder_op_codes(content)
    if not codes:
        return {}
    try:
        model = _schema().Model.GetRootAs(content, 0)
        for s in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(s)
            for o in range(subgraph.OperatorsLength()):
                op = subgraph.Operators(o)
                if op.OpcodeIndex() in codes:
                    return decoder_options(op.CustomOptionsAsNumpy())
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"corrupt TFLite model: {exc}", "re-download the model") from None
    return {}
