"""Hung and failing invokes: deadline, rebuild with backoff, fallback or give up, clean stop.

The stand-ins sit at the engine seam and at the interpreter seam (a ``Runtime`` whose
``Interpreter`` wraps the real LiteRT interpreter and misbehaves on ``invoke`` only when it was
given a delegate, i.e. when it plays the Edge TPU), so everything around them is the real code.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import ModelConfig
from edgepose.errors import FrameError, UnavailableError
from edgepose.health import Health
from edgepose.inference.accelerator import open_engine
from edgepose.inference.engine import InferenceEngine, LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.runtime import Runtime, import_runtime
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy
from tests.builders.paths import MOVENET, ROOT

FAST = SupervisorPolicy(invoke_timeout=0.3, load_timeout=10.0, max_failures=3, backoff=0.01, backoff_max=0.02)


class StandIn(InferenceEngine):
    """A real CPU engine whose ``invoke`` raises or hangs on command (the engine seam)."""

    def __init__(self, path: Path, mode: str, release: threading.Event) -> None:
        self.real = LiteRtEngine(read_model(path), threads=1)
        self.input, self.outputs, self.accelerator = self.real.input, self.real.outputs, "edgetpu"
        self.mode, self.release = mode, release

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self.real.resize_input(shape)

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        if self.mode == "raise":
            raise RuntimeError("Edge TPU: USB transfer error (stand-in)")
        if self.mode == "hang":
            self.release.wait(60)  # a native call that does not come back
        return self.real.invoke(tensor)


@pytest.fixture
def release() -> threading.Event:
    event = threading.Event()
    yield event
    event.set()  # let abandoned stand-in threads finish


def builder(path: Path, modes: list[str], release: threading.Event):
    """Builds engines whose modes follow ``modes`` (the last one repeats); records every build."""
    built: list[StandIn] = []

    def build() -> StandIn:
        engine = StandIn(path, modes[min(len(built), len(modes) - 1)], release)
        built.append(engine)
        return engine

    return build, built


def tensor_for(engine) -> np.ndarray:
    return np.zeros(engine.input.shape, engine.input.dtype)


def invoke_in_thread(engine) -> tuple[threading.Thread, list[BaseException]]:
    """One invoke on a caller thread of its own (started); what it raises lands in the list."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            engine.invoke(tensor_for(engine))
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    return caller, errors


def test_backoff_doubles_and_is_capped() -> None:
    policy = SupervisorPolicy(backoff=0.5, backoff_max=3.0)
    assert [policy.wait_before(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_raising_invoke_is_rebuilt_and_recovers(movenet_path: Path, release: threading.Event) -> None:
    build, built = builder(movenet_path, ["raise", "ok"], release)
    health = Health()
    engine = SupervisedEngine(build, "edgetpu", FAST, health)
    with pytest.raises(FrameError, match="USB transfer error"):
        engine.invoke(tensor_for(engine))
    assert len(built) == 2 and engine.rebuilds == 1
    assert not health.status().healthy and "accelerator: edgetpu" in health.status().reasons[0]
    (out,) = engine.invoke(tensor_for(engine))
    assert out.shape == (1, 1, 17, 3)
    assert health.status().healthy and engine.failures == 0
    engine.close()


def test_a_hung_invoke_is_abandoned_within_the_deadline(movenet_path: Path, release: threading.Event) -> None:
    build, built = builder(movenet_path, ["hang", "ok"], release)
    health = Health()
    engine = SupervisedEngine(build, "edgetpu", FAST, health)
    t0 = time.monotonic()
    with pytest.raises(FrameError, match=r"invoke did not finish within 0.3 s"):
        engine.invoke(tensor_for(engine))
    assert time.monotonic() - t0 < 5.0
    assert engine.abandoned == 1 and len(built) == 2
    engine.invoke(tensor_for(engine))
    assert health.status().healthy
    engine.close()


def test_health_stays_readable_while_an_invoke_hangs(movenet_path: Path, release: threading.Event) -> None:
    build, _ = builder(movenet_path, ["hang"], release)
    health = Health()
    policy = dataclasses.replace(FAST, invoke_timeout=0.5, backoff=30.0, backoff_max=30.0)
    engine = SupervisedEngine(build, "edgetpu", policy, health)
    caller, errors = invoke_in_thread(engine)
    deadline = time.monotonic() + 5.0
    while health.status().healthy and time.monotonic() < deadline:  # what a watchdog thread does
        time.sleep(0.01)
    status = health.status()
    assert not status.healthy and "did not finish within 0.5 s" in status.reasons[0]
    assert caller.is_alive()  # the pipeline thread is in its backoff wait; the stuck worker is abandoned
    engine.close()
    caller.join(5)
    assert not caller.is_alive() and isinstance(errors[0], UnavailableError)


def test_repeated_failure_falls_back_to_the_cpu(movenet_path: Path, release: threading.Event) -> None:
    build, built = builder(movenet_path, ["hang", "raise", "hang"], release)
    cpu_runs = []

    def cpu() -> LiteRtEngine:
        cpu_runs.append(1)
        return LiteRtEngine(read_model(movenet_path), threads=1)

    reasons: list[str] = []
    health = Health()
    engine = SupervisedEngine(build, "edgetpu", FAST, health, fallback=cpu, on_fallback=reasons.append)
    failures = 0
    for _ in range(3):
        try:
            engine.invoke(tensor_for(engine))
        except FrameError:
            failures += 1
    assert failures == 3 and len(built) == 3 and cpu_runs == [1]
    assert engine.accelerator == "cpu" and reasons == [engine.fallback_reason]
    assert "failed 3 times in a row" in engine.fallback_reason
    assert health.status().healthy
    (out,) = engine.invoke(tensor_for(engine))  # now on the CPU, with real outputs
    assert out.shape == (1, 1, 17, 3) and float(out[..., 2].max()) > 0.0
    engine.close()


def test_repeated_failure_without_fallback_is_unavailable(movenet_path: Path, release: threading.Event) -> None:
    build, _ = builder(movenet_path, ["raise"], release)
    health = Health()
    engine = SupervisedEngine(build, "edgetpu", FAST, health)
    with pytest.raises(FrameError):
        engine.invoke(tensor_for(engine))
    with pytest.raises(FrameError):
        engine.invoke(tensor_for(engine))
    with pytest.raises(UnavailableError, match="failed 3 times in a row") as err:
        engine.invoke(tensor_for(engine))
    assert err.value.exit_code == 69
    assert not health.status().healthy
    engine.close()


def test_close_wakes_a_long_backoff(movenet_path: Path, release: threading.Event) -> None:
    build, _ = builder(movenet_path, ["raise"], release)
    slow = dataclasses.replace(FAST, backoff=30.0, backoff_max=30.0)
    engine = SupervisedEngine(build, "edgetpu", slow, Health())
    caller, errors = invoke_in_thread(engine)
    time.sleep(0.2)
    t0 = time.monotonic()
    engine.close()
    caller.join(5)
    assert time.monotonic() - t0 < 2.0
    assert isinstance(errors[0], UnavailableError) and "stopped" in errors[0].message


def test_resize_is_reapplied_after_a_rebuild(movenet_path: Path, release: threading.Event) -> None:
    build, built = builder(movenet_path, ["raise", "ok"], release)
    engine = SupervisedEngine(build, "edgetpu", FAST, Health())
    engine.resize_input((1, 192, 192, 3))
    with pytest.raises(FrameError):
        engine.invoke(tensor_for(engine))
    assert built[1].input.shape == (1, 192, 192, 3)
    engine.close()


def hanging_runtime(release: threading.Event, calls: dict[str, int]) -> Runtime:
    """The interpreter seam: a LiteRT interpreter that hangs on invoke when it plays the Edge TPU."""
    real = import_runtime()

    class Interpreter(real.Interpreter):
        def __init__(self, *args, experimental_delegates=None, **kw) -> None:
            super().__init__(*args, **kw)
            self.tpu = bool(experimental_delegates)

        def invoke(self) -> None:
            if self.tpu:
                calls["tpu_invokes"] += 1
                release.wait(60)
            super().invoke()

    def load_delegate(library: str, options: dict) -> object:
        calls["delegates"] += 1
        return object()

    return Runtime("stand-in", "0", Interpreter, load_delegate)


def test_open_engine_reloads_the_delegate_and_falls_back(
    tmp_path: Path, models_dir: Path, release: threading.Event
) -> None:
    import shutil

    # A pair where the "Edge TPU" file is a CPU model, so the stand-in interpreter can load it.
    shutil.copy(models_dir / MOVENET, tmp_path / MOVENET)
    shutil.copy(models_dir / MOVENET, tmp_path / MOVENET.replace(".tflite", "_edgetpu.tflite"))
    calls = {"tpu_invokes": 0, "delegates": 0}
    config = dataclasses.replace(
        ModelConfig(),
        name=str(tmp_path / MOVENET),
        accelerator="edgetpu",
        fallback="cpu",
        invoke_timeout=0.2,
        max_failures=2,
        rebuild_backoff=0.01,
    )
    reasons: list[str] = []
    choice = open_engine(config, [tmp_path], Health(), reasons.append, hanging_runtime(release, calls), manifest={})
    engine = choice.engine
    assert choice.accelerator == "edgetpu" and calls["delegates"] == 1
    for _ in range(2):
        with pytest.raises(FrameError):
            engine.invoke(tensor_for(engine))
    assert calls == {"tpu_invokes": 2, "delegates": 2}  # the rebuild loaded a fresh delegate
    assert engine.accelerator == "cpu" and len(reasons) == 1
    engine.invoke(tensor_for(engine))
    engine.close()


def test_a_process_with_a_stuck_invoke_still_stops_cleanly(tmp_path: Path, movenet_path: Path) -> None:
    # The stuck call never returns (no release): the process must still report and exit on time.
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from edgepose.errors import FrameError, UnavailableError
        from edgepose.health import Health
        from edgepose.inference.engine import LiteRtEngine
        from edgepose.inference.modelfile import read_model
        from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy

        class Stuck:
            def __init__(self):
                self.real = LiteRtEngine(read_model({str(movenet_path)!r}), threads=1)
                self.input, self.outputs, self.accelerator = self.real.input, self.real.outputs, "edgetpu"
            def resize_input(self, shape): pass
            def invoke(self, tensor):
                time.sleep(3600)

        health = Health()
        engine = SupervisedEngine(Stuck, "edgetpu", SupervisorPolicy(0.2, 10, 2, 0.01, 0.01), health)
        x = np.zeros(engine.input.shape, engine.input.dtype)
        for _ in range(2):
            try:
                engine.invoke(x)
            except FrameError as e:
                print("frame skipped:", e.message)
            except UnavailableError as e:
                print("gave up:", e.message)
        print("health:", health.status().reasons)
        engine.close()
        print("abandoned:", engine.abandoned)
        sys.exit(69)
    """)
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    elapsed = time.monotonic() - t0
    assert out.returncode == 69, out.stderr
    assert "frame skipped: inference failed on the edgetpu: invoke did not finish within 0.2 s" in out.stdout
    assert "gave up: the edgetpu failed 2 times in a row" in out.stdout
    assert "health: ('accelerator: edgetpu:" in out.stdout and "abandoned: 2" in out.stdout
    assert elapsed < 30


def test_documents_after_a_fallback_say_cpu(movenet_path: Path, squat_path: Path, release: threading.Event) -> None:
    """The pipeline stamps each document with what actually ran it, also after a fallback mid-run."""
    from edgepose.config.sections import DecoderConfig
    from edgepose.documents.poses import Stamp
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.pipeline.lanes import Lane
    from edgepose.pipeline.runner import Pipeline
    from edgepose.sinks.base import Sink
    from edgepose.sources.files import ImageSource
    from edgepose.stats import RunStats

    class ListSink(Sink):
        name = "list"

        def __init__(self) -> None:
            self.documents: list[dict] = []

        def open(self, meta: dict) -> None:
            pass

        def write(self, output) -> None:  # type: ignore[no-untyped-def]
            self.documents.append(output.document)

        def close(self) -> None:
            pass

    build, _built = builder(movenet_path, ["raise"], release)
    engine = SupervisedEngine(
        build, "edgetpu", FAST, Health(), fallback=lambda: LiteRtEngine(read_model(movenet_path), threads=1)
    )
    sink, stats = ListSink(), RunStats()
    source = ImageSource(squat_path, loop=True)
    source.open()
    lane = Lane("cam0", source, PoseEstimator(engine, DecoderConfig()))
    pipeline = Pipeline([lane], [sink], Stamp("dev", "m", "edgetpu"), stats)
    pipeline.run(max_frames=6)  # a file source: the first 6 frames, each processed or counted
    source.close()
    engine.close()
    assert stats.failed == FAST.max_failures  # the frames the Edge TPU failed on are counted, not lost
    assert len(sink.documents) == 6 - FAST.max_failures
    assert {d["accelerator"] for d in sink.documents} == {"cpu"}


def test_a_chained_invoke_makes_its_input_on_the_worker_from_the_outputs_before(
    movenet_path: Path, release: threading.Event
) -> None:
    build, _ = builder(movenet_path, ["ok"], release)
    engine = SupervisedEngine(build, "edgetpu", FAST)
    seen: list[tuple[str, tuple[int, ...]]] = []

    def make(outputs: list[np.ndarray]) -> np.ndarray:
        seen.append((threading.current_thread().name, outputs[0].shape))
        return tensor_for(engine)

    first = engine.start(tensor_for(engine))
    chained = engine.chain(first, make)
    assert engine.collect(first)[0].shape == (1, 1, 17, 3)
    assert chained.began.wait(5.0)
    (out,) = engine.collect(chained.flight)
    assert out.shape == (1, 1, 17, 3) and chained.flight.future.result() is not None  # it was invoked
    assert seen == [("edgepose-edgetpu-1", (1, 1, 17, 3))]
    engine.close()


def test_a_chained_invoke_behind_a_failed_one_makes_nothing(movenet_path: Path, release: threading.Event) -> None:
    build, built = builder(movenet_path, ["raise", "ok"], release)
    engine = SupervisedEngine(build, "edgetpu", FAST)
    made: list[int] = []
    first = engine.start(tensor_for(engine))
    chained = engine.chain(first, lambda outputs: made.append(1) or tensor_for(engine))
    assert chained.began.wait(5.0)  # set although nothing was invoked: the caller goes on
    assert chained.flight.future.result(5.0) is None and made == []
    with pytest.raises(FrameError, match="USB transfer error"):
        engine.collect(first)
    assert engine.rebuilds == 1 and len(built) == 2
    engine.close()


def test_a_chained_job_behind_a_hung_invoke_is_cancelled_and_never_runs(
    movenet_path: Path, release: threading.Event
) -> None:
    build, _ = builder(movenet_path, ["hang", "ok"], release)
    engine = SupervisedEngine(build, "edgetpu", FAST)
    made: list[int] = []
    first = engine.start(tensor_for(engine))
    chained = engine.chain(first, lambda outputs: made.append(1) or tensor_for(engine))
    with pytest.raises(FrameError, match="did not finish within"):
        engine.collect(first)
    chained.cancel()
    (abandoned,) = [t for t in threading.enumerate() if t.name == "edgepose-edgetpu-1"]
    release.set()  # the abandoned worker comes back: it must not make the next input now
    first.future.result(5.0)
    abandoned.join(5.0)  # it has taken every job queued on it (the chained one, then its retirement)
    assert not abandoned.is_alive()
    assert chained.flight.future.cancelled() and made == [] and not chained.began.is_set()
    engine.close()
