"""Health of the running parts, as the service layer reports it.

Components (the source, the accelerator, a sink...) mark themselves healthy or unhealthy with a
reason; the watchdog, ``/healthz`` and the stats read one :class:`HealthStatus`. State changes are
logged once, not on every call.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthStatus:
    healthy: bool
    reasons: tuple[str, ...]  # "component: why", one per unhealthy component


class Health:
    """Thread-safe map of component name to the reason it is unhealthy (None when healthy)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, str | None] = {}

    def ok(self, component: str) -> None:
        self._set(component, None)

    def unhealthy(self, component: str, reason: str) -> None:
        self._set(component, reason)

    def forget(self, component: str) -> None:
        """A component that is gone (a camera a reload removed): neither healthy nor unhealthy now."""
        with self._lock:
            self._state.pop(component, None)

    def forget_if(self, component: str, reason: str | None) -> bool:
        """Forget ``component`` only while its reason is still ``reason`` (what the caller set): a
        component that is gone, whose state another part has set since, keeps that state."""
        with self._lock:
            if component in self._state and self._state[component] == reason:
                del self._state[component]
                return True
            return False

    def components(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._state)

    def reason(self, component: str) -> str | None:
        """Why ``component`` is unhealthy now; None when it is healthy or not reported."""
        with self._lock:
            return self._state.get(component)

    def _set(self, component: str, reason: str | None) -> None:
        """Record the state; log a change of state once (a reason that only updates, e.g. a stall's
        growing duration, is logged at debug level, so a camera down for an hour is one warning)."""
        with self._lock:
            before = self._state.get(component, "<unset>")
            self._state[component] = reason
        if before == reason:
            return
        if reason is None:
            if before != "<unset>":
                log.info("%s is healthy again", component)
        elif before is None or before == "<unset>":
            log.warning("%s is unhealthy: %s", component, reason)
        else:
            log.debug("%s is still unhealthy: %s", component, reason)

    def status(self) -> HealthStatus:
        with self._lock:
            reasons = tuple(f"{name}: {why}" for name, why in sorted(self._state.items()) if why is not None)
        return HealthStatus(not reasons, reasons)
