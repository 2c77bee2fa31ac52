"""A CPU engine invokes on the caller's thread (no hand-off), and a raising invoke is still rebuilt."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import FrameError
from edgepose.health import Health
from edgepose.inference.engine import InferenceEngine, LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy

FAST = SupervisorPolicy(invoke_timeout=0.3, load_timeout=10.0, max_failures=3, backoff=0.01, backoff_max=0.02)


class Noting(InferenceEngine):
    """A real CPU engine that notes the thread of every invoke and raises on the ones asked to."""

    def __init__(self, path: Path, raise_on: set[int]) -> None:
        self.real = LiteRtEngine(read_model(path), threads=1)
        self.input, self.outputs, self.accelerator = self.real.input, self.real.outputs, "cpu"
        self.raise_on = raise_on
        self.threads: list[str] = []

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self.real.resize_input(shape)

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.threads.append(threading.current_thread().name)
        if len(self.threads) in self.raise_on:
            raise RuntimeError("XNNPACK failed (stand-in)")
        return self.real.invoke(tensor)


@pytest.mark.parametrize(
    ("inline", "invoked_on"),
    [
        (True, "MainThread"),  # the CPU: no worker hand-off
        (False, "edgepose-cpu-1"),  # the Edge TPU's way: the supervisor's worker, under a deadline
    ],
)
def test_where_invoke_runs(movenet_path, inline, invoked_on):
    noted = Noting(movenet_path, set())
    engine = SupervisedEngine(lambda: noted, "cpu", FAST, inline=inline)
    tensor = np.zeros(engine.input.shape, engine.input.dtype)
    (out,) = engine.invoke(tensor)
    assert out.shape == (1, 1, 17, 3) and noted.threads == [invoked_on]
    engine.collect(engine.start(tensor, confirm=True))  # background invokes always use the worker
    assert noted.threads[-1].startswith("edgepose-cpu-")
    engine.close()


def test_an_inline_invoke_that_raises_is_rebuilt(movenet_path):
    built: list[Noting] = []

    def build() -> Noting:
        built.append(Noting(movenet_path, {1} if not built else set()))
        return built[-1]

    health = Health()
    engine = SupervisedEngine(build, "cpu", FAST, health, inline=True)
    tensor = np.zeros(engine.input.shape, engine.input.dtype)
    with pytest.raises(FrameError, match="XNNPACK failed"):
        engine.invoke(tensor)
    assert len(built) == 2 and engine.rebuilds == 1 and not health.status().healthy
    engine.invoke(tensor)
    assert health.status().healthy and engine.failures == 0
    engine.close()
