"""What users run instead of edgepose: the TensorFlow Raspberry Pi example's MoveNet loop, as a peer.

The example (tensorflow/examples, ``lite/examples/pose_estimation/raspberry_pi``, Apache-2.0) is not
part of edgepose and nothing of it is shipped: ``--peer DIR`` names a folder holding a copy of its
``ml/movenet.py`` and ``data.py``. Its ``Movenet.detect`` per frame (the crop region from the last
frame, crop and resize with OpenCV, invoke, keypoints into a ``Person``) is the loop a home-made
script around the model runs: no tracking, no document, no JSON. The example hard-codes 4 threads;
the peer is built at each thread count the benchmark compares, on the same model file, so the
peer differs from edgepose only in what it does around the invoke.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgepose.errors import InputError

# The example's MoveNet wrapper reads the single-pose output only.
PEER_FORMAT = "movenet_singlepose"
FILES = ("movenet.py", "data.py")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"--peer: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # movenet.py imports `data` by that name
    spec.loader.exec_module(module)
    return module


def load_example(directory: Path) -> ModuleType:
    """The example's ``movenet`` module from ``directory`` (with its ``data`` beside it)."""
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise InputError(
            f"--peer {directory}: {', '.join(missing)} not found",
            "copy ml/movenet.py and data.py of tensorflow/examples' lite/examples/pose_estimation/raspberry_pi there",
        )
    _load("data", directory / "data.py")
    return _load("tf_example_movenet", directory / "movenet.py")


def with_threads(interpreter: Callable[..., Any], threads: int) -> Callable[..., Any]:
    """The example's ``Interpreter`` at ``threads`` instead of the 4 it hard-codes."""

    def build(model_path: str, num_threads: int = 4, **kwargs: Any) -> Any:
        return interpreter(model_path=model_path, num_threads=threads, **kwargs)

    return build


@dataclass
class Peer:
    """The example's detector on one model at one thread count: ``detect(image)`` per frame."""

    detector: Any
    threads: int

    def round(self, images: Sequence[np.ndarray], seconds: float) -> tuple[int, float]:
        """Frames in a loop for ``seconds``, as the example's main loop runs them: (frames, elapsed).

        The example averages the scores of an empty list when no keypoint passes its threshold, and
        NumPy warns about it on every such frame: those warnings are the example's, kept quiet.
        """
        n, t0 = 0, time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            while (elapsed := time.perf_counter() - t0) < seconds:
                self.detector.detect(images[n % len(images)])
                n += 1
        return n, elapsed


def make_peer(example: ModuleType, model_path: Path, threads: int) -> Peer:
    """The example's ``Movenet`` on ``model_path`` with ``threads`` interpreter threads."""
    real = example.Interpreter
    example.Interpreter = with_threads(real, threads)
    try:
        detector = example.Movenet(str(model_path))
    finally:
        example.Interpreter = real
    return Peer(detector, threads)
