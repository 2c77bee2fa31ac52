"""Opening an engine for the configured accelerator (the CPU, or an Edge TPU delegate).

The Edge TPU is reached through the runtime's ``load_delegate('libedgetpu.so.1', {'device': ...})``;
nothing here needs pycoral.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from pathlib import Path

from edgepose.config.sections import ModelConfig
from edgepose.errors import UnavailableError
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.runtime import Runtime, import_runtime

log = logging.getLogger(__name__)

EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


@dataclass(frozen=True)
class EngineChoice:
    engine: LiteRtEngine
    accelerator: str  # "cpu" or "edgetpu": what actually runs


def edgetpu_library() -> str:
    return EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")


def load_edgetpu_delegate(runtime: Runtime, device: str = ""):
    """The Edge TPU delegate for ``device`` ('' any, usb, usb:N, pci, pci:N), or a clear error."""
    options = {"device": device} if device else {}
    try:
        return runtime.load_delegate(edgetpu_library(), options)
    except (ValueError, OSError, RuntimeError) as exc:
        text = str(exc)
        if "cannot open shared object" in text or "No such file" in text:
            raise UnavailableError(
                f"the Edge TPU runtime ({edgetpu_library()}) is not installed",
                "install libedgetpu1-std from Coral's package repository, or set model.accelerator: cpu",
            ) from None
        raise UnavailableError(
            f"no Edge TPU could be opened{' at ' + device if device else ''}: {text}",
            "check the Coral is plugged in (lsusb shows 1a6e:089a or 18d1:9302), that this user is in the "
            "plugdev group, and the udev rule is installed; or set model.fallback: cpu",
        ) from None


def open_engine(model_path: Path, config: ModelConfig, runtime: Runtime | None = None) -> EngineChoice:
    """An engine for one model file on the configured accelerator."""
    runtime = runtime or import_runtime()
    model = read_model(model_path)
    if config.accelerator == "edgetpu" or (config.accelerator == "auto" and model.edgetpu_compiled):
        delegate = load_edgetpu_delegate(runtime, config.edgetpu_device)
        if not model.edgetpu_compiled:
            log.warning("%s is not compiled for the Edge TPU: it runs, but nothing is accelerated", model.path.name)
        return EngineChoice(LiteRtEngine(model, config.threads, [delegate], runtime, "edgetpu"), "edgetpu")
    return EngineChoice(LiteRtEngine(model, config.threads, None, runtime, "cpu"), "cpu")
