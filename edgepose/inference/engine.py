"""One model loaded into one interpreter: tensors in, tensors out, nothing model-specific.

The engine is the seam the accelerator code (CPU, Edge TPU) and the tests plug into: anything
with ``input``, ``outputs`` and ``invoke`` can stand in for it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgepose.errors import InputError, UnavailableError
from edgepose.inference.modelfile import ModelFile
from edgepose.inference.residency import release_file_pages
from edgepose.inference.runtime import Runtime, import_runtime
from edgepose.inference.spill import spilled
from edgepose.sources.imagesize import MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

# The largest input edgepose fills: an RGB image of the largest size it reads. A larger input could
# only be filled by upscaling, and would take gigabytes (60000x60000x3 is 10.8 GB).
MAX_INPUT_ELEMENTS = 3 * MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's name, shape, dtype and (scale, zero point); scale 0 means not quantized."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0
    # The shape signature: -1 where the model leaves a dimension to be set (resize_input); () for none.
    signature: tuple[int, ...] = ()

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def dynamic(self) -> bool:
        """A dimension past the batch is left open (MoveNet MultiPose's ``[1, -1, -1, 3]``): the stored
        shape (often 1x1) is a placeholder to be resized before the first invoke."""
        return any(d < 0 for d in self.signature[1:])

    def dequantize(self, array: np.ndarray) -> np.ndarray:
        """float32 values of an output, using this tensor's own scale and zero point."""
        if not self.quantized:
            return array.astype(np.float32, copy=False)
        return (array.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)


class InferenceEngine(Protocol):
    """What the pose estimator needs from an interpreter. Concrete engines subclass it for its defaults.

    Implemented by :class:`LiteRtEngine` (CPU, or the Edge TPU delegate),
    :class:`~edgepose.inference.supervisor.SupervisedEngine` (deadlines and rebuilds around one),
    the stand-ins of :mod:`edgepose.inference.standin` and the benchmark's ``TimedEngine``.
    ``accelerator`` is what runs the invoke now (``cpu``, ``edgetpu``, ``sleep``): a supervised
    Edge TPU engine that fell back to the CPU says so, and the documents follow.
    """

    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    accelerator: str = "cpu"

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]: ...

    def invoke_filled(self, fill: Callable[[np.ndarray], None]) -> list[np.ndarray]:
        """Invoke on the input ``fill`` writes in place into the array it is given (the input's shape
        and dtype, to be written whole and not kept). This default gives it a fresh array; an engine
        with an input of its own (:class:`LiteRtEngine`) gives its own, so the caller keeps no input
        and nothing is copied."""
        tensor = np.empty(self.input.shape, self.input.dtype)
        fill(tensor)
        return self.invoke(tensor)

    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Resize a dynamic input (MoveNet MultiPose); a fixed input cannot be."""
        raise NotImplementedError(f"{type(self).__name__} has a fixed input {self.input.shape}, not {shape}")

    def close(self) -> None:
        """Release the interpreter and any thread or device it holds; the default holds none."""


class LiteRtEngine(InferenceEngine):
    """A LiteRT (or tflite_runtime) interpreter on the CPU, or with the delegates given."""

    def __init__(
        self,
        model: ModelFile,
        threads: int = 4,
        delegates: list[Any] | None = None,
        runtime: Runtime | None = None,
        accelerator: str = "cpu",
        content: bytes | None = None,
        spill_to: Path | None = None,
    ) -> None:
        """``content``: bytes to load instead of the model's. ``spill_to``: a directory on a disk
        where a rewritten model is written, unlinked, so that it is mapped (:mod:`edgepose.inference.spill`)."""
        self.dropped_outputs = model.dropped_outputs  # outputs of the file cut before loading: not in outputs
        self.runtime = runtime or import_runtime()
        self.accelerator = accelerator
        self.threads = threads
        if model.edgetpu_compiled and not delegates:
            raise UnavailableError(
                f"{model.path.name} is compiled for the Edge TPU and cannot run on the CPU",
                "use the CPU variant of the model, or set model.accelerator: edgetpu with a Coral attached",
            )
        with ExitStack() as stack:
            path = _file_to_map(model, content, spill_to, stack)
            source = (
                {"model_path": str(path)} if path else {"model_content": model.content if content is None else content}
            )
            self._interp = self._build(model, source, threads, delegates)
            self.released = release_file_pages(path) if path else 0
        # What a model loaded from a file keeps: not its bytes, which would be a second copy for the daemon's life.
        self.model = replace(model, content=b"") if path else model
        self._mapped = model.path if path and model.on_disk else None  # a spilled file is gone: nothing to release
        self._read_specs()
        for spec in self.outputs:
            if (problem := quantization_problem(spec)) is not None:
                fix = "the model is broken: re-export or re-download it"
                raise InputError(f"{model.path.name}: output {spec.name} has {problem}", fix)

    def _build(self, model: ModelFile, source: dict[str, Any], threads: int, delegates: list[Any] | None) -> Any:
        """The interpreter with its tensors allocated; what goes wrong becomes an :class:`InputError`."""
        try:
            interpreter = self.runtime.Interpreter(
                **source, num_threads=threads, experimental_delegates=delegates or None
            )
            check_input(model, interpreter.get_input_details())  # before allocating what it asks for
            interpreter.allocate_tensors()
        except ValueError as exc:
            raise InputError(f"{model.path} cannot be loaded: {exc}", "re-download the model") from None
        except MemoryError:
            raise InputError(f"{model.path} cannot be prepared: {OUT_OF_MEMORY}", TOO_LARGE_HINT) from None
        except RuntimeError as exc:
            # LiteRT raises an empty RuntimeError when allocating the tensors fails.
            text = (str(exc).strip().splitlines() or [OUT_OF_MEMORY])[0]
            if "custom op" in text:
                raise InputError(
                    f"{model.path.name} needs a custom op this runtime lacks: {text}",
                    "use a model without custom ops (see `edgepose models list`)",
                ) from None
            hint = TOO_LARGE_HINT if text == OUT_OF_MEMORY else None
            raise InputError(f"{model.path} cannot be prepared: {text}", hint) from None
        return interpreter

    def _read_specs(self) -> None:
        (inp,) = self._interp.get_input_details()
        self.input = _spec(inp)
        self.outputs = tuple(_spec(d) for d in self._interp.get_output_details())

    def resize_input(self, shape: tuple[int, ...]) -> None:
        """Resize a dynamic input (MoveNet MultiPose) and reallocate."""
        if tuple(shape) == self.input.shape:
            return
        self._interp.resize_tensor_input(self.input.index, list(shape), strict=True)
        self._interp.allocate_tensors()
        self.released = release_file_pages(self._mapped) if self._mapped else 0  # packed again
        self._read_specs()

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Run the model on one input tensor; returns copies of every output, in output order."""
        self._interp.set_tensor(self.input.index, tensor)
        return self._run()

    def invoke_filled(self, fill: Callable[[np.ndarray], None]) -> list[np.ndarray]:
        """:meth:`invoke` with ``fill`` writing the interpreter's own input buffer. The view is let go
        before the invoke: the interpreter refuses to run while an array refers to its memory."""
        view = self._interp.tensor(self.input.index)()
        try:
            fill(view)
        finally:
            del view
        return self._run()

    def _run(self) -> list[np.ndarray]:
        """Invoke on the input as it is; copies of every output, in output order."""
        self._interp.invoke()
        return [self._interp.get_tensor(o.index) for o in self.outputs]


def _file_to_map(model: ModelFile, content: bytes | None, spill_to: Path | None, stack: ExitStack) -> Path | None:
    """The file the interpreter maps for ``model``: its own when its bytes are the file's, else a
    spilled copy in ``spill_to``; None to load from bytes (``content`` given, or no place to spill).
    Its pages are given back once the tensors are allocated: XNNPACK has packed the weights into
    its own buffers by then (:mod:`edgepose.inference.residency`)."""
    if content is not None:
        return None
    if model.on_disk:
        return model.path
    if spill_to is None:
        return None
    try:
        return stack.enter_context(spilled(model.content, spill_to))
    except OSError as exc:
        log.info("loading %s from memory: it cannot be written to %s (%s)", model.path.name, spill_to, exc.strerror)
        return None


OUT_OF_MEMORY = "allocating its tensors failed (out of memory)"
TOO_LARGE_HINT = "the model asks for more memory than there is: use a smaller model or input size"


def check_input(model: ModelFile, details: list[dict[str, Any]]) -> None:
    """Refuse, before allocating, a model edgepose cannot feed: not one input, an input of no
    elements, or one larger than :data:`MAX_INPUT_ELEMENTS`. Open dimensions are checked later,
    where the decoder says whether it sizes the input (:func:`~edgepose.decode.base.choose_decoder`)."""
    if len(details) != 1:
        raise InputError(f"{model.path.name} has {len(details)} inputs", "edgepose runs models with one image input")
    spec = _spec(details[0])
    fixed = [d for i, d in enumerate(spec.shape) if not (spec.signature[i : i + 1] and spec.signature[i] < 0)]
    if 0 in fixed:
        fix = "the model is broken: re-export or re-download it"
        raise InputError(f"{model.path.name}: its input {list(spec.shape)} has no elements", fix)
    elements = int(np.prod(spec.shape, dtype=np.int64))
    if elements > MAX_INPUT_ELEMENTS:
        gigabytes = elements * spec.dtype.itemsize / 1e9
        raise InputError(
            f"{model.path.name}: its input {list(spec.shape)} is too large ({gigabytes:.1f} GB; the limit is "
            f"{MAX_INPUT_ELEMENTS / 3 / 1e6:.0f} megapixels of 3 channels, the largest image edgepose reads)",
            "use a model with a smaller input",
        )


def quantization_problem(spec: TensorSpec) -> str | None:
    """Why a quantized output cannot be dequantized into finite float32 values, or None.

    A scale that is NaN, infinite or negative, or so large that ``(q - zero_point) * scale``
    overflows float32 for some code ``q`` of the dtype, would turn every frame's output into
    NaN or inf: refused at load rather than failing every frame.
    """
    if not spec.quantized:
        return None
    if not (math.isfinite(spec.scale) and spec.scale > 0):
        return f"a quantization scale of {spec.scale}"
    if spec.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        span = max(abs(int(info.max) - spec.zero_point), abs(int(info.min) - spec.zero_point))
        with np.errstate(over="ignore"):  # a scale past float32's range is inf here, and refused
            scale = float(np.float32(spec.scale))
        if span * scale >= float(np.finfo(np.float32).max):  # in float64: no overflow here
            return f"a quantization scale of {spec.scale} (with zero point {spec.zero_point}) that overflows float32"
    return None


def _spec(detail: dict[str, Any]) -> TensorSpec:
    scale, zero = detail.get("quantization", (0.0, 0))
    return TensorSpec(
        name=detail["name"],
        index=int(detail["index"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zero),
        signature=tuple(int(d) for d in detail.get("shape_signature", ())),
    )
