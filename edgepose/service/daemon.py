"""The long-running main: the pipeline in a worker thread, the main thread telling systemd the truth.

The worker thread loads the model, opens the source and sinks, and runs the pipeline. The main
thread never touches a frame; every tick it looks at the pipeline's counters and:

- sends ``EXTEND_TIMEOUT_USEC`` while start-up runs (a slow model load or Numba compile), up to
  ``service.start_timeout``; ``READY=1`` once the first frame has been processed (a hook);
- sends ``WATCHDOG=1`` only when a frame was processed within the watchdog interval and every
  component is healthy. A stuck camera, a blocked sink or a hung invoke stops the pings, so
  systemd restarts the service; nothing here pings on a timer regardless. A camera's own
  trouble is reported (``camera <name>``) but does not stop the pings while a camera makes
  progress (docs/cameras.md);
- sends ``STATUS=`` with the frame rate and the people in view;
- acts on signals, which the handlers only record: SIGTERM/SIGINT stop (``STOPPING=1``, the frame in
  flight finishes, sinks and source close) within ``service.shutdown_timeout``; SIGHUP reloads the
  config, applying what can change live and saying what needs a restart.

If the worker does not end within the shutdown timeout (stuck in a native call), the main thread
closes the sinks itself and the process exits 1 without waiting for it.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from edgepose.app import App
from edgepose.config.sections import Config
from edgepose.errors import EX_OK, EX_SOFTWARE, EdgeposeError
from edgepose.frame import Frame
from edgepose.health import HealthStatus
from edgepose.logs import ONCE_EACH, counted, set_level, setup_logging
from edgepose.pipeline.runner import Ended, Pipeline
from edgepose.pipeline.scheduling import WAITING, Assessment, assess
from edgepose.pose import FrameResult
from edgepose.service.early_signals import HeldSignals
from edgepose.service.health_http import HealthServer, Probe
from edgepose.service.http_guard import Limits
from edgepose.service.notify import Notifier, watchdog_interval
from edgepose.service.reload import Reloader, ReloadPlan, plan_reload
from edgepose.service.stuck import thread_stack

log = logging.getLogger(__name__)

PROGRESS = "pipeline"  # the health component this module reports: frames being processed
CAMERA_COMPONENT = "camera "  # each camera's health component: "camera <name>"
SINK_COMPONENT = "sink "  # a sink's trouble (a broker refusing the login, a full disk): "sink <name>"
STATUS_EVERY_S = 2.0  # how often STATUS= is refreshed
EXTEND_BY_S = 30.0  # each EXTEND_TIMEOUT_USEC asks for this much more start-up time
MAX_TICK_S = 1.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class State(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


class Inbox:
    """Signals as the handlers recorded them; the main loop takes them out and acts.

    ``SimpleQueue.put`` is reentrant, so a handler may run while the main thread waits in ``get``.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()

    def record(self, signum: int, _frame: Any = None) -> None:
        self._queue.put(signum)

    def wait(self, timeout: float) -> int | None:
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def install(self, signals: tuple[int, ...]) -> Callable[[], None]:
        """Record these signals from now on; returns a function restoring the previous handlers."""
        previous = {sig: signal.signal(sig, self.record) for sig in signals}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


WAKE = 0  # not a signal: the worker ended


class Daemon:
    """Runs one :class:`App` as a service. ``serve`` returns the exit code.

    ``load`` re-reads the configuration (file and overrides) on SIGHUP; ``log_level`` maps a
    config to the level to use (the CLI folds in -v/-q).
    """

    def __init__(
        self,
        app: App,
        notifier: Notifier | None = None,
        watchdog: float | None = None,
        load: Callable[[], Config] | None = None,
        log_level: Callable[[Config], str] = lambda c: c.logging.level,
        inbox: Inbox | None = None,
    ) -> None:
        self.app = app
        self.reloader = Reloader(app)
        self.config = app.config
        self.notifier = notifier or Notifier()
        self.watchdog = watchdog if app.config.service.watchdog else None
        self.load = load
        self.log_level = log_level
        self.inbox = inbox or Inbox()
        self.clock = app.clock
        self.state = State.STARTING
        self.stop_event = threading.Event()
        self.first_frame = threading.Event()
        self.error: BaseException | None = None
        self.forced = False
        self.health_server: HealthServer | None = None
        self._worker: threading.Thread | None = None
        self._started = 0.0
        self._last_status = -1e9
        self._rate_mark: tuple[float, int] = (0.0, 0)
        self._fps = 0.0
        self._extend_warned = False
        self._was_healthy = True
        self._camera_reasons: dict[str, str] = {}  # the reasons assess_cameras set, by camera
        self._quiet: set[str] = set()  # stalled cameras whose count was taken out of the total
        app.hooks.append(self._on_frame)

    @property
    def tick(self) -> float:
        """Main-loop period: a quarter of the watchdog interval, so a ping is never late."""
        return min(MAX_TICK_S, self.watchdog / 4) if self.watchdog else MAX_TICK_S

    def _on_frame(self, frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        self.first_frame.set()  # a hook must be quick: the main loop does the rest

    def request_stop(self) -> None:
        """Ask for a stop from another thread (what SIGTERM does)."""
        self.inbox.record(signal.SIGTERM)

    # -- the main loop ---------------------------------------------------------------------------

    def serve(self, max_frames: int | None = None, duration: float | None = None) -> int:
        """Start, supervise until a stop signal or the end of the source, stop; the exit code."""
        self._started = self.clock()
        health = self.config.service.health
        if health.enabled:
            limits = Limits(health.read_timeout, health.max_clients)
            self.health_server = HealthServer(health.host, health.port, self.probe, limits)
            self.health_server.start()
        self._worker = threading.Thread(
            target=self._work, args=(max_frames, duration), name="edgepose-main", daemon=True
        )
        self._worker.start()
        reason = "the source ended"
        try:
            while True:
                signum = self.inbox.wait(self.tick)
                if signum in STOP_SIGNALS:
                    reason = f"{signal.Signals(signum).name} received"
                    break
                if signum == signal.SIGHUP:
                    self.reload()
                if not self._worker.is_alive():
                    if self.error is not None:
                        reason = "start-up failed" if self.state is State.STARTING else "the pipeline failed"
                    else:
                        reason = self.ended_reason(max_frames, duration)
                    break
                self.check(self.clock())
        finally:
            if self.state is State.STARTING and self.first_frame.is_set():
                self._become_ready(self.clock())  # a short run that ended between two ticks
            code = self.shutdown(reason)
        if self.error is not None and not self.forced:
            raise self.error
        return code

    def ended_reason(self, max_frames: int | None, duration: float | None) -> str:
        """Why the worker ended by itself, as the pipeline recorded it."""
        ended = self.app.pipeline.ended if self.app.pipeline is not None else None
        if ended is Ended.MAX_FRAMES:
            return f"--max-frames {max_frames} reached"
        if ended is Ended.DURATION:
            return f"--duration {duration:g} s reached"
        return "the source ended"

    def _work(self, max_frames: int | None, duration: float | None) -> None:
        try:
            self.app.start()
            if not self.stop_event.is_set():
                self.app.run(max_frames=max_frames, stop=self.stop_event, duration=duration)
        except BaseException as exc:  # handed to the main thread, which raises it after stopping
            self.error = exc
        finally:
            self.app.stop()
            self.inbox.record(WAKE)

    def check(self, now: float) -> None:
        """One tick: readiness, progress, watchdog and status."""
        if self.state is State.STARTING:
            if self.first_frame.is_set():
                self._become_ready(now)
            else:
                self._extend_start(now)
            return
        if self.state is not State.RUNNING:
            return
        stall_after = self.config.source.stall_timeout
        since = now - self.app.stats.last_progress_mono
        if since > stall_after:
            self.app.health.unhealthy(PROGRESS, f"no frame processed for more than {stall_after:g} s")
        else:
            self.app.health.ok(PROGRESS)
        self.assess_cameras(now)
        self.assess_sinks()
        healthy = self.app.health.status().healthy
        if self.watchdog is not None and since < self.watchdog and self.shared_healthy():
            self.notifier.watchdog()
        if now - self._last_status >= STATUS_EVERY_S or healthy != self._was_healthy:
            self._was_healthy = healthy
            self._last_status = now
            self.notifier.status(self.status_text(now))

    def assess_cameras(self, now: float) -> None:
        """One health component per camera (``camera <name>``), from the pipeline's
        progress (:func:`~edgepose.pipeline.scheduling.assess`): stalled, failed, or fine (a file that ended is
        fine). The retrying sources report ``camera <name>`` too: their reason (it names the error)
        is kept until the camera takes frames again; the daemon's own is updated as the cause changes."""
        pipeline, verdict = self._verdict(now)
        if pipeline is None or verdict is None:
            return
        written: dict[str, str | None] = {}
        for name in pipeline.cameras:
            component = f"{CAMERA_COMPONENT}{name}"
            if name in verdict.unhealthy:
                self._quieten(name, verdict.unhealthy[name])
                current = self.app.health.reason(component)
                if current is None or current == self._camera_reasons.get(name):  # not a retrying source's own
                    self._camera_reasons[name] = verdict.unhealthy[name]
                    self.app.health.unhealthy(component, verdict.unhealthy[name])
                    written[name] = verdict.unhealthy[name]
            elif name in verdict.progressing:
                self._quiet.discard(name)
                self._camera_reasons.pop(name, None)
                self.app.health.ok(component)
                written[name] = None
        # A reload may have removed a camera (and forgotten its health) since the list was read: what
        # was written for it here would stay for good. The pipeline drops a camera from its list before
        # the removal forgets its health, so reading the list again after writing catches every case.
        left = set(pipeline.cameras)
        for name in written.keys() - left:
            self._camera_reasons.pop(name, None)
            self._quiet.discard(name)
            self.app.health.forget_if(f"{CAMERA_COMPONENT}{name}", written[name])

    def _verdict(self, now: float) -> tuple[Pipeline | None, Assessment | None]:
        """The running pipeline and its cameras' progress over ``source.stall_timeout`` (None, None before)."""
        pipeline = self.app.pipeline
        if pipeline is None:
            return None, None
        return pipeline, assess(pipeline.progress(), now, self.config.source.stall_timeout)

    def _quieten(self, name: str, why: str) -> None:
        """A live camera whose frames stopped (or whose source failed) sees nobody: its last people
        count leaves the device's total, in the figures and in the sinks, once per stall. A camera
        whose frames wait for a hung engine keeps its count: it is not the camera that stopped."""
        source = self.app.sources.get(name)
        if name in self._quiet or why.startswith(WAITING) or source is None or not source.live:
            return  # a file waits for the pipeline (back-pressure): its stall is never the file's own
        self._quiet.add(name)
        if self.app.pipeline is not None:
            self.app.pipeline.quiet(name)

    def assess_sinks(self) -> None:
        """One health component per sink in trouble (``sink <name>``), from :meth:`Sink.trouble`."""
        for sink in self.app.sinks:
            component = f"{SINK_COMPONENT}{sink.name}"
            trouble = sink.trouble()
            if trouble is not None:
                self.app.health.unhealthy(component, trouble)
            elif component in self.app.health.components():
                self.app.health.ok(component)

    def shared_healthy(self) -> bool:
        """Whether the parts every camera needs are healthy: the watchdog's condition.

        A sink's trouble (``sink <name>``) never stops the pings: a restart cannot make a broker take
        a password or free a disk, and would lose what the MQTT buffer holds; ``/healthz`` says it.
        Neither does a camera's own trouble (``camera <name>``): a restart would stop the healthy
        cameras too, and the failing one is retried on its own; when no camera makes progress,
        ``pipeline`` is unhealthy and the pings stop (docs/cameras.md), one camera or several."""
        status = self.app.health.status()
        return not [r for r in status.reasons if not r.startswith((SINK_COMPONENT, CAMERA_COMPONENT))]

    def _become_ready(self, now: float) -> None:
        self.state = State.RUNNING
        self.app.health.ok(PROGRESS)
        self._rate_mark = (now, self.app.stats.processed)
        self._last_status = now
        loaded = self.app.loaded
        what = f"{loaded.model_name} on {loaded.accelerator}" if loaded else "the model"
        log.info("ready: %s, first frame processed %.1f s after start", what, now - self._started)
        self.notifier.ready(f"running {what}")

    def _extend_start(self, now: float) -> None:
        if now - self._started < self.config.service.start_timeout:
            self.notifier.extend_timeout(EXTEND_BY_S)
        elif not self._extend_warned:
            self._extend_warned = True
            log.warning(
                "start-up is taking more than service.start_timeout (%g s): no longer extending systemd's "
                "start timeout",
                self.config.service.start_timeout,
            )

    def status_text(self, now: float) -> str:
        """``12.5 fps, 1 person in view``: the rate over the last status period, not since the start."""
        then, count = self._rate_mark
        processed = self.app.stats.processed
        if now - then >= 0.5:
            self._fps = (processed - count) / (now - then)
            self._rate_mark = (now, processed)
        people = self.app.stats.people
        text = f"{self._fps:.1f} fps, {people} {'person' if people == 1 else 'people'} in view"
        status = self.app.health.status()
        return text if status.healthy else f"{text}; " + "; ".join(status.reasons)

    def probe(self) -> Probe:
        """The service's state for /healthz and /metrics (called from the HTTP threads)."""
        status: HealthStatus = self.app.health.status()
        reasons = status.reasons
        if self.state is State.STARTING:
            reasons = ("service: starting (loading the model, waiting for the first frame)", *reasons)
        elif self.state is State.STOPPING:
            reasons = ("service: stopping", *reasons)
        now = self.clock()
        return Probe(
            self.state.value,
            status.healthy,
            reasons,
            self.app.stats.snapshot(now),
            tuple(self.app.sinks),
            cameras=self.app.stats.camera_snapshots(now),
        )

    # -- reload and stop -------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: re-read the config; apply what can change live; a broken config changes nothing."""
        if self.load is None:
            log.warning("SIGHUP: no configuration source to reload from; ignored")
            return
        running = self.state is State.RUNNING
        if running:
            self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            try:
                new = self.load()
            except EdgeposeError as exc:
                log.error("reload failed, keeping the current configuration: %s", exc.said, extra=ONCE_EACH)
                return
            pipeline = self.app.pipeline
            running = pipeline is not None
            plan = plan_reload(self.config, new, can_track=running, can_analyze=running)
            try:
                self.apply(plan)
            except EdgeposeError as exc:  # what the new config asks for cannot be built: nothing was applied
                log.error("reload failed, keeping the current configuration: %s", exc.said, extra=ONCE_EACH)
            except Exception:  # a reload must never take the running service down
                log.exception(
                    "reload failed while applying %s; the service goes on", ", ".join(plan.applied), extra=ONCE_EACH
                )
        finally:
            if running:
                self.notifier.ready(self.status_text(self.clock()))

    def apply(self, plan: ReloadPlan) -> None:
        """Apply ``plan`` (:class:`~edgepose.service.reload.Reloader`), then the logging settings, and say
        what was applied and what needs a restart."""
        self.reloader.apply(plan)
        new = plan.config
        if "logging.format" in plan.applied:
            setup_logging(self.log_level(new), new.logging.format)
        elif "logging.level" in plan.applied:
            set_level(self.log_level(new))
        self.config = new
        if not plan.applied and not plan.restart:
            log.info("reloaded the configuration: nothing changed")
            return
        log.info(
            "reloaded the configuration: applied %s%s",
            ", ".join(plan.applied) or "nothing",
            f"; needs a restart: {', '.join(plan.restart)}" if plan.restart else "",
        )

    def shutdown(self, reason: str) -> int:
        """Stop within ``service.shutdown_timeout``; 0 when everything ended cleanly, 1 when forced."""
        previous, self.state = self.state, State.STOPPING
        if previous is not State.STARTING or reason.endswith("received"):
            log.info("stopping: %s", reason)
        self.notifier.stopping(f"stopping: {reason}")
        self.stop_event.set()
        timeout = self.config.service.shutdown_timeout
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            if worker.is_alive():
                self.forced = True
                log.error(
                    "the pipeline did not stop within service.shutdown_timeout (%g s): closing the sinks "
                    "and exiting without it; the pipeline thread was at (innermost last):\n%s",
                    timeout,
                    thread_stack(worker),
                )
                self.app.stop()  # the rest of the stop steps, from here: sinks publish offline, source closes
        if self.health_server is not None:
            self.health_server.close()
        self.notifier.close()
        here = (threading.current_thread(), threading.main_thread())
        leftover = [t.name for t in threading.enumerate() if t not in here and not t.daemon]
        if leftover:
            log.warning("threads still running at exit: %s", ", ".join(leftover))
        stats = self.app.stats
        if previous is not State.STARTING:
            log.info(
                "done: %s processed, %d failed, %d skipped",
                counted(stats.processed, "frame"),
                stats.failed,
                stats.skipped,
            )
        return EX_SOFTWARE if self.forced else EX_OK


def serve(
    config: Config,
    max_frames: int | None = None,
    duration: float | None = None,
    load: Callable[[], Config] | None = None,
    log_level: Callable[[Config], str] = lambda c: c.logging.level,
    held: HeldSignals | None = None,
) -> int:
    """What ``edgepose run`` does: the app under a :class:`Daemon` with real signals and notify.

    ``held``: the signals the CLI held while starting (a SIGHUP then is a reload, not the end).

    When the pipeline had to be abandoned (stuck in a native call), the process exits here with
    ``os._exit``: interpreter shutdown would otherwise wait on, or abort over, the stuck thread.
    """
    daemon = Daemon(App(config), Notifier(), watchdog_interval(), load, log_level)
    with recording_signals(daemon.inbox, held):
        code = daemon.serve(max_frames, duration)
    if daemon.forced:
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    return code


@contextlib.contextmanager
def recording_signals(inbox: Inbox, held: HeldSignals | None = None) -> Iterator[Inbox]:
    """Record the stop and reload signals in ``inbox`` while the block runs, then restore the handlers.

    Signals ``held`` since the process started are taken into the inbox first, after its handlers
    are installed, so none is lost in between."""
    restore = inbox.install((*STOP_SIGNALS, signal.SIGHUP))
    if held is not None:
        held.take(inbox.record)
    try:
        yield inbox
    finally:
        restore()
