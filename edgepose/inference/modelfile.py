"""Reading a .tflite file before handing it to the interpreter.

Reading the flatbuffer first lets edgepose refuse a file that is not a model, or an Edge TPU model
on the CPU, with a message that says what to do, instead of an interpreter crash.
"""

from __future__ import annotations

import importlib.util
import mmap
from dataclasses import dataclass, field
from pathlib import Path

from edgepose.errors import InputError
from edgepose.inference.surgery import POSENET_DECODER_OP, custom_codes, strip_posenet_decoder

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class ModelFile:
    """A model's bytes and what was learnt from its flatbuffer without running it.

    ``content`` is what the interpreter loads: for a model that ended in Coral's
    ``PosenetDecoderOp`` it is the model without that node (see :mod:`edgepose.inference.surgery`),
    ``custom_ops`` still lists what the file had, and ``decoder_options`` holds the op's parameters.
    ``dropped_outputs`` names outputs of the file that ``content`` no longer computes because
    nothing reads them (:mod:`edgepose.inference.unread`). ``on_disk``: ``content`` is the file's
    bytes unchanged, so the interpreter maps the file itself instead of holding a copy of it
    (:class:`~edgepose.inference.engine.LiteRtEngine`).
    """

    path: Path
    content: bytes
    custom_ops: tuple[str, ...]
    decoder_options: dict[str, float] = field(default_factory=dict)
    dropped_outputs: tuple[str, ...] = ()
    on_disk: bool = False

    @property
    def edgetpu_compiled(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops

    @property
    def name(self) -> str:
        return self.path.stem


def read_model(path: str | Path) -> ModelFile:
    """Read and sanity-check a model file. Raises :class:`InputError` for anything unusable."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"model file not found: {path}", "check model.name or run `edgepose models fetch`") from None
    except IsADirectoryError:
        raise InputError(f"model path is a directory: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read model file {path}: {exc.strerror}") from None
    custom_ops = custom_ops_of(content, path)
    if POSENET_DECODER_OP in custom_ops:
        stripped = strip_posenet_decoder(content, path)
        return ModelFile(path, stripped.content, custom_ops, stripped.options)
    return ModelFile(path, content, custom_ops, on_disk=True)


def edgetpu_compiled_file(path: str | Path) -> bool:
    """Whether the model file at ``path`` is compiled for the Edge TPU, read through a mapping.

    Reading the whole file only to look at its op codes would put a block the size of the model in
    the heap and take it out again before the model is read for good; glibc then serves the frames'
    allocations from a heap that cannot shrink back (6 MB more for BlazePose full). Raises
    :class:`InputError` for a file that cannot be read or is not a model.
    """
    path = Path(path)
    try:
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return EDGETPU_CUSTOM_OP in custom_ops_of(mapped, path)  # type: ignore[arg-type]
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        raise InputError(f"cannot read model file {path}: {getattr(exc, 'strerror', None) or exc}") from None


def custom_ops_of(content: bytes, path: Path | str = "<bytes>") -> tuple[str, ...]:
    """Names of the custom ops a model uses; :class:`InputError` if it is not a TFLite flatbuffer."""
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise InputError(f"{path} is not a TFLite model (no TFL3 flatbuffer identifier)", "re-download the model")
    if importlib.util.find_spec("flatbuffers") is None:  # tflite_runtime comes without it: the interpreter checks
        return ()
    return tuple(name for name in custom_codes(content, path) if name)
