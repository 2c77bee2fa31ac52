"""Inference under a deadline: a hung or failing accelerator costs a rebuild, not the service.

Why a worker thread: a USB Coral can stop answering in the middle of ``invoke()`` (google-coral/
edgetpu issues 22 and 94), and a native call cannot be interrupted from Python. The interpreter
therefore lives on its own daemon thread; the caller waits for each invoke with a deadline. LiteRT
releases the GIL while it invokes, so a stuck invoke leaves every other thread (the pipeline,
health reporting, the systemd watchdog, MQTT) running. An invoke that raises or overruns marks
component ``accelerator`` unhealthy, and the engine is rebuilt on a fresh thread, delegate
reloaded, after a doubling, capped wait. After ``max_failures`` in a row it falls back to the CPU
(when allowed) or raises :class:`UnavailableError`, so the service exits 69 and systemd restarts it.

The trade-off: a stuck thread cannot be killed, so it is abandoned with its interpreter (memory and
the device handle stay held until the process exits), and at most ``max_failures`` of them pile up
before the process gives up. A worker *process* could be killed, but every frame would cross a
process boundary (a copy or shared memory per frame), the model would load twice, and a native
crash would need the same restart logic anyway. The thread hand-off costs about 0.2 ms a frame (mean,
measured in docs/pipeline.md); a CPU engine (``inline=True``) skips it: XNNPACK has no device to
wedge, so its invokes run on the caller's thread without a deadline, and only a raising invoke
is rebuilt. Background invokes (:meth:`SupervisedEngine.start`, for the overlapped pipeline)
always run on the worker.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, TypeVar

import numpy as np

from edgepose.backoff import Backoff
from edgepose.errors import EdgeposeError, FrameError, UnavailableError
from edgepose.health import Health
from edgepose.inference.engine import InferenceEngine, TensorSpec

log = logging.getLogger(__name__)

COMPONENT = "accelerator"
CONFIRM_S = 0.05  # longest wait for the worker to begin an invoke handed over with confirm=True
T = TypeVar("T")
EngineBuilder = Callable[[], InferenceEngine]


@dataclass(frozen=True)
class SupervisorPolicy:
    """Deadlines (seconds) and the rebuild schedule: wait ``backoff * 2**(n-1)``, at most ``backoff_max``."""

    invoke_timeout: float = 5.0
    load_timeout: float = 30.0
    max_failures: int = 3
    backoff: float = 0.5
    backoff_max: float = 10.0

    def wait_before(self, failures: int) -> float:
        """Seconds to wait before rebuild number ``failures`` (1-based)."""
        return Backoff(self.backoff, self.backoff_max).delay(failures - 1)

    @classmethod
    def from_config(cls, model: Any) -> SupervisorPolicy:
        return cls(
            model.invoke_timeout,
            model.load_timeout,
            model.max_failures,
            model.rebuild_backoff,
            model.rebuild_backoff_max,
        )


class _Worker:
    """One daemon thread that runs jobs in order. Daemon, so a job stuck in native code never blocks exit."""

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[tuple[Callable[[], Any], Future] | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting caller, who decides
                future.set_exception(exc)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    def retire(self) -> None:
        """Let the thread end after its current job (if that job never ends, neither does the thread)."""
        self._jobs.put(None)


class SupervisedEngine(InferenceEngine):
    """An :class:`~edgepose.inference.engine.InferenceEngine` whose invokes run under a deadline.

    ``build`` makes the engine (called on the worker thread, again after every failure);
    ``fallback`` makes the CPU engine used once ``build``'s engine failed ``max_failures`` times in
    a row (None: no fallback, raise :class:`UnavailableError` instead). ``on_fallback(reason)`` is
    called once when that happens (the app counts it in stats).
    """

    def __init__(
        self,
        build: EngineBuilder,
        accelerator: str,
        policy: SupervisorPolicy,
        health: Health | None = None,
        fallback: EngineBuilder | None = None,
        on_fallback: Callable[[str], None] | None = None,
        inline: bool = False,
    ) -> None:
        self.policy = policy
        # inline: :meth:`invoke` runs on the caller's thread, without the deadline (and without the
        # worker hand-off, about 0.2 ms a frame): for the CPU, whose invoke has no device to wedge.
        # A raising invoke is still rebuilt; background invokes (start) still use the worker.
        self.inline = inline
        self.health = health or Health()
        self._build = build
        self._fallback = fallback
        self._on_fallback = on_fallback
        self._closed = threading.Event()  # set by close(): wakes a backoff wait at once
        self._resize: tuple[int, ...] | None = None
        self._generation = 0
        self.failures = 0  # consecutive failed invokes or builds
        self.rebuilds = 0
        self.abandoned = 0  # worker threads left behind in a call that never returned
        self.fallback_reason = ""
        self.accelerator = accelerator
        self._worker = self._new_worker()
        try:
            self._engine = self._call(self._build, policy.load_timeout, "loading the model")
        except _CallFailedError as failed:  # at start there is nothing to recover: say why, once
            self._worker.retire()
            if isinstance(failed.original, EdgeposeError):
                raise failed.original from None
            raise UnavailableError(f"cannot load the model on the {accelerator}: {failed.reason}") from None
        self.health.ok(COMPONENT)

    # -- the InferenceEngine interface ---------------------------------------------------------

    @property
    def engine(self) -> InferenceEngine:
        """The engine the worker runs now (the benchmark times it bare, without the hand-off)."""
        return self._engine

    @property
    def input(self) -> TensorSpec:
        return self._engine.input

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._engine.outputs

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self._resize = tuple(shape)
        engine = self._engine
        self._call(lambda: engine.resize_input(tuple(shape)), self.policy.load_timeout, "resizing the input")

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Outputs of one invoke; :class:`FrameError` (skip the frame) when it failed and was recovered."""
        if not self.inline:
            return self.collect(self.start(tensor))
        if self._closed.is_set():
            raise UnavailableError("the inference engine is closed")
        try:
            outputs = _converted(lambda: self._engine.invoke(tensor), "invoke", waited=False)
        except _CallFailedError as failed:
            self._recover(failed.reason)
            raise FrameError(f"inference failed on the {self.accelerator}: {failed.reason}") from None
        return self._succeeded(outputs)

    def start(self, tensor: np.ndarray, confirm: bool = False) -> InFlight:
        """Hand one invoke to the worker; return once it began (``confirm``) or at once.

        ``confirm``: wait (GIL released) until the worker is inside ``invoke``. A caller that goes
        on with Python work right away would otherwise hold the GIL the worker needs to begin, and
        the invoke would start up to a switch interval (5 ms) late: the overlapped pipeline's
        hand-off cost on a 7 ms accelerator. The wait is bounded by :data:`CONFIRM_S`; a worker
        stuck in an earlier call is left to :meth:`collect`'s deadline.

        The deadline starts when :meth:`collect` waits, so a caller busy for a millisecond after
        ``start`` never turns a healthy invoke into a timeout.
        """
        if self._closed.is_set():
            raise UnavailableError("the inference engine is closed")
        engine = self._engine
        clock = time.perf_counter
        stamps = [clock(), 0.0]
        began = threading.Event() if confirm else None

        def job() -> list[np.ndarray]:
            if began is not None:
                began.set()
            outputs = engine.invoke(tensor)
            stamps[1] = clock()
            return outputs

        flight = InFlight(self._worker.submit(job), stamps)
        if began is not None:
            began.wait(CONFIRM_S)
        return flight

    def chain(self, previous: InFlight, make: Callable[[list[np.ndarray]], np.ndarray | None]) -> Chained:
        """Queue an invoke right behind ``previous`` on the worker, its input made there from its outputs.

        MoveNet's exact crop cuts frame n+1 from frame n's keypoints. Made on the worker the moment
        n's invoke returns, the next invoke begins without two thread hand-offs (waking the caller,
        then the worker again), which cost a 7 ms accelerator 0.3-0.7 ms a frame. ``make(outputs)``
        runs on the worker and returns the next input, or None for no invoke; it must not raise
        (what it raises is the chained invoke's failure). It never runs when ``previous`` failed:
        :meth:`collect` of ``previous`` recovers the engine as before, and the caller cancels the
        chained job (:meth:`Chained.cancel`), which may sit on a worker that was abandoned.

        The caller waits for :attr:`Chained.began` before running Python of its own: the worker
        holds the GIL while ``make`` runs, up to the invoke, which releases it.
        """
        if self._closed.is_set():
            raise UnavailableError("the inference engine is closed")
        engine = self._engine
        clock = time.perf_counter
        stamps = [0.0, 0.0]
        began = threading.Event()

        def job() -> list[np.ndarray] | None:
            try:
                if previous.future.exception(timeout=0) is not None:
                    return None
                tensor = make(previous.future.result(timeout=0))
                if tensor is None:
                    return None
                stamps[0] = clock()
                began.set()
                outputs = engine.invoke(tensor)
                stamps[1] = clock()
                return outputs
            finally:
                began.set()

        return Chained(InFlight(self._worker.submit(job), stamps), began)  # type: ignore[arg-type]

    def collect(self, flight: InFlight) -> list[np.ndarray]:
        """The outputs of an invoke :meth:`start` began; :class:`FrameError` when it failed and was recovered."""
        try:
            outputs = self._wait(flight.future, self.policy.invoke_timeout, "invoke")
        except _CallFailedError as failed:
            self._recover(failed.reason)
            raise FrameError(f"inference failed on the {self.accelerator}: {failed.reason}") from None
        return self._succeeded(outputs)

    def _succeeded(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        if self.failures:
            log.info("%s recovered after %d failure(s)", self.accelerator, self.failures)
        self.failures = 0
        self.health.ok(COMPONENT)
        return outputs

    def close(self) -> None:
        """Stop: wake any backoff wait, let the worker end. Never waits for a stuck invoke."""
        self._closed.set()
        self._worker.retire()

    # -- internals ------------------------------------------------------------------------------

    def _new_worker(self) -> _Worker:
        self._generation += 1
        worker = _Worker(f"edgepose-{self.accelerator}-{self._generation}")
        weakref.finalize(self, worker.retire)  # an engine dropped without close() leaves no idle thread
        return worker

    def _call(self, fn: Callable[[], T], timeout: float, what: str) -> T:
        """Run ``fn`` on the worker; :class:`_CallFailedError` if it raises or overruns ``timeout``."""
        return self._wait(self._worker.submit(fn), timeout, what)

    def _wait(self, future: Future[T], timeout: float, what: str) -> T:
        """The result of a job on the worker; :class:`_CallFailedError` if it raised or overran ``timeout``."""
        try:
            return _converted(lambda: future.result(timeout=timeout), what, waited=True)
        except FutureTimeout:
            # The worker is stuck inside fn: abandon it (it is a daemon) and start a new one.
            self.abandoned += 1
            self._worker.retire()
            self._worker = self._new_worker()
            raise _CallFailedError(f"{what} did not finish within {timeout:g} s") from None

    def _recover(self, reason: str) -> None:
        """After a failure: back off, rebuild; after ``max_failures``, fall back or give up."""
        while True:
            self.failures += 1
            self.health.unhealthy(COMPONENT, f"{self.accelerator}: {reason} (failure {self.failures})")
            if self.failures >= self.policy.max_failures:
                self._give_up(reason)
                return
            wait = self.policy.wait_before(self.failures)
            log.warning("%s failed (%s); rebuilding in %.2f s", self.accelerator, reason, wait)
            if self._closed.wait(wait):
                raise UnavailableError("stopped while the accelerator was being rebuilt")
            try:
                self._engine = self._rebuild(self._build)
                self.rebuilds += 1
                return
            except _CallFailedError as failed:
                reason = failed.reason

    def _rebuild(self, build: EngineBuilder) -> InferenceEngine:
        """A fresh engine on a fresh worker (the old worker may hold a wedged device)."""
        self._worker.retire()
        self._worker = self._new_worker()
        resize = self._resize

        def make() -> InferenceEngine:
            engine = build()
            if resize is not None:
                engine.resize_input(resize)
            return engine

        return self._call(make, self.policy.load_timeout, "rebuilding the interpreter")

    def _give_up(self, reason: str) -> None:
        what = f"the {self.accelerator} failed {self.failures} times in a row (last: {reason})"
        if self._fallback is None:
            raise UnavailableError(what, "check the device (`edgepose doctor`); the service manager restarts edgepose")
        try:
            engine = self._rebuild(self._fallback)
        except _CallFailedError as failed:
            raise UnavailableError(f"{what}, and the CPU fallback failed too: {failed.reason}") from None
        _check_compatible(self._engine, engine)
        self._engine = engine
        self._fallback = None
        self.fallback_reason = what
        self.accelerator = "cpu"
        self.failures = 0
        log.error("FALLING BACK TO THE CPU: %s", what)
        self.health.ok(COMPONENT)
        if self._on_fallback is not None:
            self._on_fallback(what)


@dataclass
class InFlight:
    """An invoke handed to the worker: its future, and when it was handed over and when it ended.

    ``stamps``: ``[submitted, finished]`` on ``time.perf_counter``; ``finished`` is set by the worker
    (0 until then), so the invoke's own duration excludes the time the caller took to collect it.
    """

    future: Future[list[np.ndarray]]
    stamps: list[float]

    @property
    def invoke_ms(self) -> float:
        """From hand-over to the end of ``invoke`` on the worker (includes waking the worker)."""
        return (self.stamps[1] - self.stamps[0]) * 1e3 if self.stamps[1] else 0.0


@dataclass
class Chained:
    """An invoke queued by :meth:`SupervisedEngine.chain`: its flight (result None when nothing was
    invoked) and ``began``, set as the invoke begins or when the job ends without one."""

    flight: InFlight
    began: threading.Event

    def cancel(self) -> None:
        """Drop the job if it has not begun (its worker may have been abandoned in the invoke before it)."""
        self.flight.future.cancel()


class _CallFailedError(Exception):
    """A call on the worker raised or overran; ``original`` is what it raised (None on a timeout)."""

    def __init__(self, reason: str, original: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.original = original


def _converted(fn: Callable[[], T], what: str, waited: bool) -> T:
    """``fn()``; what it raised as :class:`_CallFailedError`. ``waited``: ``fn`` waits on a future,
    whose timeout passes through (the caller abandons the worker)."""
    try:
        return fn()
    except FutureTimeout:
        if waited:
            raise
        raise _CallFailedError(f"{what} raised TimeoutError") from None
    except EdgeposeError as exc:
        raise _CallFailedError(exc.message, exc) from None
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise _CallFailedError(f"{what} raised {type(exc).__name__}: {text[0] if text else ''}", exc) from None


def _check_compatible(old: InferenceEngine, new: InferenceEngine) -> None:
    """The estimator keeps the first engine's input size and decoder: the fallback must match them."""
    same_input = old.input.shape == new.input.shape and old.input.dtype == new.input.dtype
    same_outputs = [o.shape for o in old.outputs] == [o.shape for o in new.outputs]
    if not (same_input and same_outputs):
        raise UnavailableError(
            "the CPU fallback model has different tensors from the Edge TPU model",
            "set model.name to the CPU variant of the same network as model.edgetpu_name",
        )
