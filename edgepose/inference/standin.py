"""A fixed-latency stand-in accelerator that replays a real model's recorded outputs.

Why: the question "does Python keep the accelerator busy?" needs an accelerator whose invoke
costs a known time and releases the GIL, as LiteRT's does on a Coral. ``sleep:7ms`` sleeps 7 ms
in ``invoke`` (``time.sleep`` releases the GIL) and returns the outputs the real model gave on
real frames, in order, so the decoder and tracker work on realistic poses (PoseNet: about 13
people a frame of the walking-crowd video). The bare loop over this engine is the limit a
pipeline on it can reach.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepose.errors import ConfigError
from edgepose.inference.engine import InferenceEngine, TensorSpec

SPEC = re.compile(r"sleep:(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|us|s)")
UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def parse_sleep(text: str) -> float:
    """Seconds of ``sleep:7ms`` (also ``us``, ``s``); :class:`ConfigError` on anything else."""
    match = SPEC.fullmatch(text.strip())
    if match is None:
        raise ConfigError(f"--engine {text!r} is not an engine", "use real, or sleep:<latency> such as sleep:7ms")
    return float(match["value"]) * UNITS[match["unit"]]


@dataclass(frozen=True)
class Recording:
    """The outputs a real engine gave, one list of arrays per invoke, with its tensor specs."""

    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    frames: tuple[tuple[np.ndarray, ...], ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a recording needs at least one invoke")


class RecordingEngine(InferenceEngine):
    """Wraps an engine and keeps a copy of every output it returns (for :func:`record`)."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine
        self.input, self.outputs, self.accelerator = engine.input, engine.outputs, engine.accelerator
        self.frames: list[tuple[np.ndarray, ...]] = []

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self.engine.resize_input(shape)
        self.input, self.outputs = self.engine.input, self.engine.outputs

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        outputs = self.engine.invoke(tensor)
        self.frames.append(tuple(np.array(o, copy=True) for o in outputs))
        return outputs

    def recording(self) -> Recording:
        return Recording(self.input, self.outputs, tuple(self.frames))


class SleepEngine(InferenceEngine):
    """Invoke sleeps ``latency`` seconds (GIL released) and returns the next recorded outputs.

    The outputs cycle through the recording in order, whatever the input tensor: replaying frame k's
    outputs for the k-th invoke gives the decoder and tracker the real model's sequence of poses.
    """

    def __init__(
        self,
        recording: Recording,
        latency: float,
        sleep: Callable[[float], None] = time.sleep,
        accelerator: str = "sleep",
    ) -> None:
        self.recording = recording
        self.latency = latency
        self.sleep = sleep
        self.accelerator = accelerator
        self.input, self.outputs = recording.input, recording.outputs
        self._next = 0

    def resize_input(self, shape: tuple[int, ...]) -> None:
        if tuple(shape) != self.input.shape:
            raise ConfigError(f"the stand-in engine replays outputs for input {list(self.input.shape)} only")

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.sleep(self.latency)
        frames = self.recording.frames
        outputs = frames[self._next % len(frames)]
        self._next += 1
        return list(outputs)
