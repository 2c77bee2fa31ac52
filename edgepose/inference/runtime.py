"""Finding a TFLite runtime: LiteRT (``ai-edge-litert``) first, ``tflite_runtime`` where only it exists.

Older Raspberry Pi OS images ship ``tflite_runtime`` wheels; LiteRT is the maintained runtime and
the one that works with NumPy 2.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from edgepose.errors import UnavailableError

CANDIDATES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")


@dataclass(frozen=True)
class Runtime:
    """The interpreter class and delegate loader of whichever runtime imported."""

    name: str
    version: str
    Interpreter: Any
    load_delegate: Any


def import_runtime(candidates: tuple[str, ...] = CANDIDATES) -> Runtime:
    """Import the first runtime that works; a clear :class:`UnavailableError` when none does."""
    failures = []
    for module_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # includes tflite_runtime's NumPy 2 "_ARRAY_API not found"
            failures.append(f"{module_name}: {exc}")
            continue
        package = module_name.split(".")[0]
        version = _version(package)
        return Runtime(package, version, module.Interpreter, module.load_delegate)
    raise UnavailableError(
        "no TFLite runtime could be imported (" + "; ".join(failures) + ")",
        "pip install ai-edge-litert",
    )


def _version(package: str) -> str:
    from importlib import metadata

    dist = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(package, package)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
