"""A model's sparse weights stored dense, so that the interpreter does not keep a dense copy of them.

MediaPipe's person detector (``pose_detection.tflite``) stores 38 convolution weights as sparse
float16 in TFLite's sparsity format, each behind a ``DENSIFY`` and a ``DEQUANTIZE`` operator. The
interpreter runs ``DENSIFY`` once, into 5.2 MB of dense float16 that it keeps for its life beside
the float32 weights XNNPACK packs from them. Stored dense in the file instead, those weights are
read once while XNNPACK packs them, and the file's pages are then given back
(:mod:`edgepose.inference.residency`): the BlazePose daemon is 7-8 MB smaller. The dense values are
the sparse ones put in their places, so on x86 the outputs are the same to the bit.

On ARM, though, the sparse weights are worth their memory: the delegate then asks XNNPACK for
sparse inference (``XNN_FLAG_HINT_SPARSE_INFERENCE``), whose kernels skip the zeros, and the dense
copy took twice the instructions a detector invoke (Bookworm arm64 under qemu: 5.8-6.3 s against
2.8-2.9 s; qemu's times are not a Pi's, their ratio is the work). Elsewhere XNNPACK has no sparse
kernels and the dense copy costs nothing. ``model.sparse_weights: auto`` (:func:`wants_dense`)
therefore loads the dense copy off ARM, and on ARM only on a board with less than 1 GiB, where
5 MB is what counts. On ARM the two give outputs within 5e-4 of each other, not to the bit.

The rewrite needs the flatbuffer object API (``ai_edge_litert.schema_py_generated``), which unpacks
every weight into Python objects and would leave megabytes of freed objects in the daemon's heap.
It therefore runs in a child process (``python -m edgepose.inference.densify SOURCE DEST``), once
per model file: the result is kept in the model cache, named by the source's SHA-256. Where there
is no cache on a disk, or the child fails (``tflite_runtime`` has no schema module), the model
loads as it is, which works as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgepose.errors import InputError
from edgepose.inference.modelfile import ModelFile, custom_ops_of, read_model

log = logging.getLogger(__name__)

DENSIFY = 124  # schema.fbs BuiltinOperator.DENSIFY
DENSE, SPARSE_CSR = 0, 1  # schema.fbs DimensionType
FORMAT = 1  # bump when the rewrite changes, so that a cached file from an older one is not used
CHILD_TIMEOUT_S = 300.0  # a Pi Zero 2 W takes a few seconds; a wedged child must not hold the start up

Densifier = Callable[[Path, Path], None]  # (source model, destination file): raises on failure


def wants_dense(choice: str, machine: str | None = None, memory_mb: Callable[[], int | None] | None = None) -> bool:
    """Whether ``model.sparse_weights`` (``auto``, ``dense``, ``sparse``) loads dense copies here:
    ``auto`` off ARM, and on ARM boards with less than ``SMALL_BOARD_MB`` of memory."""
    from edgepose.kernels import SMALL_BOARD_MB, board_memory_mb

    if choice != "auto":
        return choice == "dense"
    machine = (machine if machine is not None else platform.machine()).lower()
    if not machine.startswith(("arm", "aarch64")):
        return True
    memory = (memory_mb or board_memory_mb)()
    return memory is not None and memory < SMALL_BOARD_MB


def sparse_weight_count(content: bytes) -> int:
    """How many ``DENSIFY`` operators the first subgraph runs (read without the schema module)."""
    from edgepose.inference import flatbuffer as fb

    model = fb.Table.root(content)
    codes = {
        i
        for i, code in enumerate(model.tables(fb.MODEL_OPERATOR_CODES))
        if max(code.int8(fb.CODE_DEPRECATED_BUILTIN), code.int32(fb.CODE_BUILTIN)) == DENSIFY
    }
    if not codes:
        return 0
    graph = model.tables(fb.MODEL_SUBGRAPHS)[0]
    return sum(op.int32(fb.OPERATOR_OPCODE_INDEX) in codes for op in graph.tables(fb.SUBGRAPH_OPERATORS))


def dense_values(
    shape: Sequence[int],
    traversal_order: Sequence[int],
    dimensions: Sequence[tuple[int, int, np.ndarray | None, np.ndarray | None]],
    values: np.ndarray,
) -> np.ndarray:
    """The dense array of ``shape`` that a sparse tensor stands for.

    ``dimensions`` are TFLite's ``DimensionMetadata`` in traversal order: (format, dense size,
    array segments, array indices). A ``DENSE`` dimension holds every coordinate; a ``SPARSE_CSR``
    one holds, for each element of the dimensions before it, the coordinates from
    ``indices[segments[i]:segments[i + 1]]``. ``values`` are the stored elements in traversal
    order. Block-sparse tensors (a traversal order longer than the shape) are refused.
    """
    rank = len(shape)
    if sorted(traversal_order) != list(range(rank)) or len(dimensions) != rank:
        raise InputError(f"unsupported sparsity: traversal order {list(traversal_order)} for a {rank}-d tensor")
    sizes = [int(shape[d]) for d in traversal_order]
    coords = np.zeros(1, np.int64)  # flat coordinate, in traversal order, of each element so far
    for size, (kind, dense_size, segments, indices) in zip(sizes, dimensions, strict=True):
        if kind == DENSE:
            if dense_size != size:
                raise InputError(f"unsupported sparsity: a dense dimension of {dense_size} for size {size}")
            coords = (coords[:, None] * size + np.arange(size, dtype=np.int64)).ravel()
        elif kind == SPARSE_CSR and segments is not None and indices is not None:
            segments = np.asarray(segments, np.int64)
            indices = np.asarray(indices, np.int64)
            counts = np.diff(segments)
            if len(segments) != len(coords) + 1 or (counts < 0).any() or segments[-1] > len(indices):
                raise InputError("corrupt sparsity: the segments do not cover the elements")
            if len(indices) and (indices.min() < 0 or indices.max() >= size):
                raise InputError("corrupt sparsity: an index past its dimension")
            coords = np.repeat(coords, counts) * size + indices[segments[0] : segments[-1]]
        else:
            raise InputError(f"unsupported sparsity: dimension format {kind}")
    if len(coords) != len(values):
        raise InputError(f"corrupt sparsity: {len(values)} values for {len(coords)} places")
    dense = np.zeros(int(np.prod(sizes, dtype=np.int64)), values.dtype)
    dense[coords] = values
    return dense.reshape(sizes).transpose(np.argsort(traversal_order))


def densify(content: bytes) -> bytes:
    """The model with every ``DENSIFY`` of a constant sparse weight folded into a dense weight.

    The sparse tensor becomes dense in its own buffer, its ``DENSIFY`` operator goes, and whatever
    read the operator's output reads the tensor. Raises :class:`InputError` for a sparsity it
    cannot decode (the caller then loads the model as it is).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    custom_ops_of(content)  # InputError for what is not a TFLite model at all
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    codes = {
        i for i, c in enumerate(model.operatorCodes or []) if max(c.builtinCode, c.deprecatedBuiltinCode) == DENSIFY
    }
    for graph in model.subgraphs or []:
        kept, alias = [], {}
        for op in graph.operators or []:
            weight = graph.tensors[op.inputs[0]] if op.opcodeIndex in codes else None
            data = model.buffers[weight.buffer].data if weight is not None and weight.buffer else None
            if weight is None or weight.sparsity is None or data is None or len(data) == 0:
                kept.append(op)
                continue
            dtype = np.dtype(schema_dtype(weight.type))
            sparsity = weight.sparsity
            dims = [
                (d.format, d.denseSize, _vector(d.arraySegments), _vector(d.arrayIndices))
                for d in sparsity.dimMetadata or []
            ]
            values = np.frombuffer(bytes(data), dtype)
            dense = dense_values(weight.shape, sparsity.traversalOrder, dims, values)
            model.buffers[weight.buffer].data = np.frombuffer(np.ascontiguousarray(dense).tobytes(), np.uint8)
            weight.sparsity = None
            alias[int(op.outputs[0])] = int(op.inputs[0])
        graph.operators = kept
        for op in kept:
            op.inputs = [alias.get(int(i), int(i)) for i in op.inputs]
        graph.outputs = [alias.get(int(i), int(i)) for i in graph.outputs]
    builder = flatbuffers.Builder(2 * len(content))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def schema_dtype(kind: int) -> str:
    from edgepose.inference.flatbuffer import DTYPES

    if kind not in DTYPES:
        raise InputError(f"unsupported sparsity: a weight of TensorType {kind}")
    return DTYPES[kind]


def _vector(union: object) -> np.ndarray | None:
    """The values of a sparse index vector (an Int32, Uint16 or Uint8 vector union)."""
    values = getattr(union, "values", None)
    return None if values is None else np.asarray(values)


def run_child(source: Path, destination: Path) -> None:
    """Rewrite ``source`` into ``destination`` in a child Python; raises :class:`OSError` when it fails."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "edgepose.inference.densify", str(source), str(destination)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise OSError(f"the rewrite failed: {last}")


def dense_cache(configured: str = "") -> Path | None:
    """The directory dense copies are kept in: ``dense`` in the model cache (``model.cache_dir``),
    made when missing; None when it cannot be, or is not on a disk (a copy in ``tmpfs`` would be
    memory again)."""
    from edgepose.inference.spill import spill_directory
    from edgepose.modelstore.locate import cache_dir

    directory = cache_dir(configured) / "dense"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return spill_directory([directory])


def cached_name(model: ModelFile) -> str:
    digest = hashlib.sha256(model.content).hexdigest()[:20]
    return f"{model.path.stem}.{digest}.dense{FORMAT}.tflite"


def dense_model(model: ModelFile, cache_dir: str = "", densifier: Densifier = run_child) -> ModelFile:
    """``model`` with its sparse weights stored dense, from the model cache (``model.cache_dir``; the
    copy is made the first time); ``model`` itself when it has none, when it is not a file of its
    own, or when the dense copy cannot be made or kept (logged at INFO)."""
    if not model.on_disk or model.edgetpu_compiled:
        return model
    try:
        if not sparse_weight_count(model.content):
            return model
    except Exception:  # no flatbuffers package (tflite_runtime), or a graph it cannot walk
        return model
    cache = dense_cache(cache_dir)
    if cache is None:
        log.info("%s: its sparse weights stay sparse (no model cache on a disk to keep a dense copy)", model.path.name)
        return model
    target = cache / cached_name(model)
    if not target.is_file():
        try:
            _make(model.path, target, densifier)
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("%s: its sparse weights stay sparse: %s", model.path.name, exc)
            return model
    try:
        dense = read_model(target)
        if sparse_weight_count(dense.content) or _signature(dense) != _signature(model):
            raise InputError(f"{target} is not a dense copy of {model.path.name}")
    except InputError as exc:
        log.warning("%s: ignoring the cached dense copy (%s); it is made again at the next start", model.path.name, exc)
        target.unlink(missing_ok=True)
        return model
    log.info("%s: loading its dense copy %s", model.path.name, target)
    return replace(dense, dropped_outputs=model.dropped_outputs)


def _make(source: Path, target: Path, densifier: Densifier) -> None:
    """Write the dense copy beside ``target`` under a temporary name, then rename it: a start that
    dies halfway, or another daemon making the same file, never leaves a half-written copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        densifier(source, Path(part))
        Path(part).replace(target)
    finally:
        Path(part).unlink(missing_ok=True)


def _signature(model: ModelFile) -> tuple[object, ...]:
    from edgepose.inference.flatbuffer import inputs_and_outputs

    inputs, outputs = inputs_and_outputs(model.content)
    return tuple(inputs), tuple(outputs)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgepose.inference.densify SOURCE DEST``: 0 when DEST holds the dense model."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m edgepose.inference.densify SOURCE DEST", file=sys.stderr)
        return 64
    try:
        Path(args[1]).write_bytes(densify(Path(args[0]).read_bytes()))
    except InputError as exc:
        print(f"edgepose: {exc.message}", file=sys.stderr)
        return 65
    except Exception as exc:  # an import that fails, a corrupt buffer: the parent logs the last line
        print(f"edgepose: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 70
    return 0


if __name__ == "__main__":
    sys.exit(main())
