"""What a .tflite file is, read from its flatbuffer without running it (``edgepose models inspect``).

Reading the flatbuffer instead of building an interpreter means Edge TPU models and models with
custom ops the runtime lacks can be inspected on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.errors import InputError
from edgepose.inference.engine import TensorSpec
from edgepose.inference.modelfile import EDGETPU_CUSTOM_OP, read_model
from edgepose.modelstore.manifest import ModelEntry

# Output layouts edgepose knows by shape, named as in the manifest's ``format``. A decoder
# registered in ``edgepose.decode.FORMATS`` takes precedence; these name the rest.
POSENET_DECODER_OP = "PosenetDecoderOp"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # -1 where the dimension is dynamic (shape signature)
    dtype: str
    scale: float = 0.0  # 0: not quantized
    zero_point: int = 0

    def as_spec(self, index: int) -> TensorSpec:
        dims = tuple(1 if d < 0 else d for d in self.shape)
        return TensorSpec(self.name, index, dims, np.dtype(self.dtype), self.scale, self.zero_point)

    def describe(self) -> str:
        quant = f" quantized scale={self.scale:.6g} zero_point={self.zero_point}" if self.scale else ""
        return f"{self.name} {list(self.shape)} {self.dtype}{quant}"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    size_bytes: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    runs_as: tuple[TensorInfo, ...]  # the outputs edgepose runs (after PosenetDecoderOp surgery)
    custom_ops: tuple[str, ...]
    builtin_ops: tuple[str, ...]
    weights: tuple[str, ...]  # dtypes of the constant tensors, most common first
    format: str
    decoder: bool  # whether this build of edgepose has a decoder for ``format``
    ignored: tuple[str, ...] = ()  # outputs of ``runs_as`` that decoder does not read (extra PoseNet heads)
    metadata: Mapping[str, Any] | None = None  # the exporter's metadata.json appended to the file (Ultralytics)
    entry: ModelEntry | None = None  # the manifest entry of this file name, if any
    sha256: str = ""  # of the whole file

    @property
    def manifest_match(self) -> str:
        """How the file compares with its manifest entry's pinned checksum: 'matches', 'differs',
        'not pinned...'; '' when no entry has its name. A same-named file of other bytes is another build."""
        if self.entry is None:
            return ""
        if self.entry.kind == "export":
            return "not pinned: every export is a file of its own"
        if not self.entry.sha256:
            return "not pinned"
        return "matches" if self.entry.sha256 == self.sha256 else "differs"

    @property
    def license(self) -> str:
        """The weights' licence as the file's own metadata states it, else as the manifest does; '' if neither."""
        stated = (self.metadata or {}).get("license")
        if isinstance(stated, str) and stated:
            return stated
        return self.entry.license if self.entry is not None else ""

    @property
    def description(self) -> str:
        """What the exporter says the model is (e.g. 'Ultralytics YOLO11n-pose model trained on ...')."""
        meta = self.metadata or {}
        text = meta.get("description")
        version = meta.get("version")
        if not isinstance(text, str):
            return ""
        return f"{text} (exported by {meta.get('author', '?')} {version})" if isinstance(version, str) else text

    @property
    def edgetpu_compiled(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops

    @property
    def quantization(self) -> str:
        """e.g. 'int8 weights, uint8 input' or 'float16 weights, float32 input (quantized: scale ...)'."""
        weights = "/".join(w for w in self.weights if w != "int32")
        if not weights:
            weights = "Edge TPU-compiled (inside the custom op)" if self.edgetpu_compiled else "no"
        inputs = ", ".join(sorted({t.dtype + (" quantized" if t.scale else "") for t in self.inputs}))
        return f"{weights} weights, {inputs} input"

    def to_dict(self) -> dict[str, Any]:
        def tensors(ts: Sequence[TensorInfo]) -> list[dict[str, Any]]:
            return [
                {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point}
                for t in ts
            ]

        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "inputs": tensors(self.inputs),
            "outputs": tensors(self.outputs),
            "runs_as": tensors(self.runs_as),
            "custom_ops": list(self.custom_ops),
            "builtin_ops": list(self.builtin_ops),
            "weights": list(self.weights),
            "quantization": self.quantization,
            "edgetpu_compiled": self.edgetpu_compiled,
            "format": self.format,
            "decoder_available": self.decoder,
            "ignored_outputs": list(self.ignored),
            "license": self.license or None,
            "description": self.description or None,
            "manifest_name": self.entry.name if self.entry is not None else None,
            "manifest_checksum": self.manifest_match or None,
            "sha256": self.sha256,
        }


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise InputError(
            "inspecting a model needs ai-edge-litert (its flatbuffer schema)", "pip install ai-edge-litert"
        ) from None
    return schema


def _enum_names(enum: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def tensors_of(
    content: bytes,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs, builtin op names, weight dtypes) of the first subgraph of a TFLite flatbuffer.

    Weight dtypes are those of tensors with data in the file (constants), most common first: they
    tell a float16 or int8 build apart when the input is uint8 either way.
    """
    schema = _schema()
    types = _enum_names(schema.TensorType)
    builtins = _enum_names(schema.BuiltinOperator)
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)

    def info(index: int) -> TensorInfo:
        t = graph.Tensors(int(index))
        shape = t.ShapeSignatureAsNumpy() if not t.ShapeSignatureIsNone() else t.ShapeAsNumpy()
        shape = tuple(int(d) for d in shape) if not isinstance(shape, int) else ()
        scale, zero = 0.0, 0
        q = t.Quantization()
        if q is not None and not q.ScaleIsNone() and q.ScaleLength() == 1:
            scale, zero = float(q.Scale(0)), int(q.ZeroPoint(0)) if not q.ZeroPointIsNone() else 0
        return TensorInfo(
            (t.Name() or b"").decode("utf-8", "replace"), shape, types.get(t.Type(), "?").lower(), scale, zero
        )

    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if not code.CustomCode():
            ops.add(builtins.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?"))
    inputs = tuple(info(i) for i in graph.InputsAsNumpy())
    outputs = tuple(info(i) for i in graph.OutputsAsNumpy())
    weights: dict[str, int] = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        if buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0):
            name = types.get(t.Type(), "?").lower()
            weights[name] = weights.get(name, 0) + 1
    ranked = tuple(sorted(weights, key=lambda k: -weights[k]))
    return inputs, outputs, tuple(sorted(ops)), ranked


def inspect_model(path: Path, manifest: Mapping[str, ModelEntry] | None = None) -> ModelInfo:
    """Everything ``models inspect`` reports about one file; :class:`InputError` if it is not a model."""
    model = read_model(path)  # checks the identifier, lists custom ops, strips PosenetDecoderOp
    raw = Path(path).read_bytes()
    try:
        inputs, outputs, builtins, weights = tensors_of(raw)
        runs_as = tensors_of(model.content)[1] if model.content is not raw else outputs
    except InputError:
        raise
    except Exception as exc:  # a corrupt buffer can fail anywhere inside flatbuffers
        raise InputError(f"{path} is a corrupt TFLite model: {exc}", "re-download the model") from None
    fmt, known, ignored = detect_format(inputs, runs_as, model.custom_ops)
    entry = {e.file: e for e in manifest.values()}.get(Path(path).name) if manifest else None
    if fmt == "unknown" and entry is not None:
        fmt = entry.format or fmt
    return ModelInfo(
        Path(path),
        len(raw),
        inputs,
        outputs,
        runs_as,
        model.custom_ops,
        builtins,
        weights,
        fmt,
        known,
        ignored,
        appended_metadata(raw),
        entry,
        hashlib.sha256(raw).hexdigest(),
    )


METADATA_LIMIT = 1 << 16  # bytes: a metadata.json larger than this is not an exporter's


def appended_metadata(raw: bytes) -> dict[str, Any]:
    """The ``metadata.json`` Ultralytics appends to an exported .tflite (a zip after the flatbuffer).

    It names the exporter, its version and the weights' licence; {} when there is none or it is
    unreadable (it is information, never needed to run the model).
    """
    import io
    import json
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            info = archive.getinfo("metadata.json")
            if info.file_size > METADATA_LIMIT:
                return {}
            data = json.loads(archive.read(info).decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, NotImplementedError):
        return {}
    return data if isinstance(data, dict) else {}


def detect_format(
    inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], custom_ops: Sequence[str]
) -> tuple[str, bool, tuple[str, ...]]:
    """(format name, whether a decoder for it is registered, the outputs that decoder ignores)."""
    from edgepose.decode import FORMATS

    if inputs:
        in_spec = inputs[0].as_spec(0)
        out_specs = [o.as_spec(i) for i, o in enumerate(outputs)]
        for fmt in FORMATS:
            try:
                if fmt.matches(out_specs, in_spec):
                    return fmt.name, True, fmt.ignored(out_specs)
            except (IndexError, ValueError, TypeError):
                continue
        # BlazePose's two stages are an estimator of their own, not a FORMATS decoder.
        from edgepose.decode.blazepose.outputs import FORMAT, detector_layout, landmark_layout

        layout = landmark_layout(out_specs, in_spec)
        if layout is not None:
            return FORMAT, True, tuple(out_specs[i].name for i in layout.ignored)
        if detector_layout(out_specs, in_spec) is not None:
            return f"{FORMAT}_detector", False, ()
    return _by_shape(outputs, custom_ops), False, ()


def _by_shape(outputs: Sequence[TensorInfo], custom_ops: Sequence[str]) -> str:
    shapes = [o.shape for o in outputs]
    if POSENET_DECODER_OP in custom_ops:
        return "posenet_coral"
    if len(shapes) == 1 and shapes[0][-2:] == (17, 3):
        return "movenet_singlepose"
    if len(shapes) == 1 and len(shapes[0]) == 3 and shapes[0][-1] == 56:
        return "movenet_multipose"
    channels = sorted(s[-1] for s in shapes if len(s) == 4)
    if channels == [17, 32, 34, 32] or channels == sorted([17, 34, 32, 32]):
        return "posenet"
    return "unknown"
