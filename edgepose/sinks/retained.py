"""The MQTT sink's retained states: each camera's people count and the device's total, zone and fall
states, held by :class:`~edgepose.mqtt.settle.Settle`, and cleared when a reload removes what they
describe.

Every value goes through :meth:`MqttTransport.set_state`: the transport keeps the latest value of
each topic and sends it again after every reconnect (the broker may have restarted and lost it), so
a later value always wins over an earlier one, a clear included.

What an earlier run left retained of these states is emptied at connect until this run sets its own
(:meth:`RetainedStates.clear_left`, called by :mod:`edgepose.sinks.leftovers`).

Counts: with several cameras ``<prefix>/<camera>/count`` per camera and ``<prefix>/count`` the
device's total (the sum of each camera's latest count); with one camera ``<prefix>/count`` alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from edgepose.config.sections import MqttConfig
from edgepose.mqtt.settle import Settle
from edgepose.mqtt.transport import MqttTransport
from edgepose.sinks.layout import CameraOutput, Layout

log = logging.getLogger(__name__)


class RetainedStates:
    """The latest retained values the sink publishes, and the hold on those Home Assistant records.

    ``clock``: monotonic seconds (the hold). Thread-safe: the pipeline threads set, a reload clears.
    """

    def __init__(self, transport: MqttTransport, mqtt: MqttConfig, clock: Callable[[], float]) -> None:
        self.transport = transport
        self.mqtt = mqtt
        self.clock = clock
        ha = mqtt.homeassistant
        # Counts and zone states Home Assistant records change at most once per settle (mqtt.homeassistant).
        self.settle = Settle(ha.settle if ha.enabled else 0.0)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}  # camera -> people in its latest frame
        self._device_count: int | None = None  # the latest value of <prefix>/count
        self._set_lock = threading.Lock()  # after _lock when both are taken
        self._published: set[str] = set()  # topics this run has set (a value or a clear)

    def _set(self, topic: str, payload: bytes) -> None:
        with self._set_lock:
            self._published.add(topic)
            self.transport.set_state(topic, payload, self.mqtt.qos_status)

    def clear_left(self, topic: str) -> bool:
        """Empty ``topic``, a state this run publishes, unless this run has set it already: what it
        holds is then what an earlier run left (a killed one's last count), which no subscriber may
        take for this run's. True when emptied. Atomic with :meth:`_set`: a value this run sets is
        never emptied after it."""
        with self._set_lock:
            if topic in self._published:
                return False
            self.transport.set_state(topic, b"", self.mqtt.qos_status)
        log.info("mqtt: emptying %s until this run publishes it (an earlier run left it retained)", topic)
        return True

    def clear(self, topic: str) -> None:
        """An empty retained message on ``topic``: the broker forgets its value."""
        self._set(topic, b"")

    def _held(self, topic: str, payload: bytes) -> None:
        """Published now, or held until its settle time is over (:class:`Settle`)."""
        if self.settle.offer(topic, payload, self.clock()):
            self._set(topic, payload)

    def publish_due(self) -> None:
        """What the hold kept and is now due."""
        for topic, payload in self.settle.due(self.clock()):
            self._set(topic, payload)

    # -- counts ------------------------------------------------------------------------------------

    def count(self, layout: Layout, output: CameraOutput, people: int) -> None:
        """A frame of configured ``output`` with ``people``: the count states it changes, held."""
        if not self.mqtt.publish_count:
            return
        with self._lock:
            changed = self._counted(layout, output, people)
        for topic, value in changed:
            self._held(topic, str(value).encode())

    def quiet(self, layout: Layout, camera: str) -> None:
        """Camera ``camera`` went quiet: its count is 0 and leaves the device's total, at once (no frame
        may follow to end a hold), until its next frame."""
        output = layout.cameras.get(camera)
        if output is None or not self.mqtt.publish_count:
            return
        with self._lock:
            for topic, value in self._counted(layout, output, 0):
                self._set(topic, str(value).encode())
                self.settle.sent(topic, str(value).encode(), self.clock())

    def _counted(self, layout: Layout, output: CameraOutput, people: int) -> list[tuple[str, int]]:
        """The count states a frame of ``output`` with ``people`` changes (under ``_lock``)."""
        if people == self._counts.get(output.name):
            return []
        self._counts[output.name] = people
        changed = [(output.topics.camera_count, people)] if layout.several else []
        return changed + self._device_total_changed(layout)

    def _device_total_changed(self, layout: Layout) -> list[tuple[str, int]]:
        """``<prefix>/count`` when it differs from its latest value: the sum of each camera's latest count."""
        latest = [self._counts[name] for name in layout.cameras if name in self._counts]
        if not latest:
            return []
        total = sum(latest)
        if total == self._device_count:
            return []
        self._device_count = total
        return [(layout.topics.count, total)]

    # -- zone and fall states ----------------------------------------------------------------------

    def zones(self, output: CameraOutput, states: Iterable[tuple[str, bytes]]) -> None:
        """Zone states of a frame of ``output``, held; only those of zones configured now."""
        for zone, payload in states:
            if zone in output.zones:
                self._held(output.topics.zone(zone), payload)

    def fall(self, output: CameraOutput, payload: bytes) -> None:
        """Who is down on ``output``'s camera (not held: a fall is news at once)."""
        self._set(output.topics.fall, payload)

    # -- a reload ----------------------------------------------------------------------------------

    def reload_counts(self, was: Layout, layout: Layout) -> None:
        """The counts after a reload, as :meth:`_reload_counts` says (first: before the announcements)."""
        with self._lock:
            self._counts = {k: v for k, v in self._counts.items() if k in layout.cameras}
            self._reload_counts(was, layout)

    def reload_states(self, was: Layout, layout: Layout) -> None:
        """Removed zones' states and the fall state (falls off, or the camera removed) cleared, after
        the announcements emptied the configs that read them; no held value of a removed zone is
        published after its clear (counts were republished by :meth:`reload_counts`)."""
        for name, old in was.cameras.items():
            now = layout.cameras.get(name)
            for zone in sorted(set(old.zones) - set(now.zones if now else ())):
                self.clear(old.topics.zone(zone))
            if was.falls_on and (now is None or not layout.falls_on):
                self.clear(old.topics.fall)
        self.settle.keep_only(layout.zone_topics())

    def _reload_counts(self, was: Layout, layout: Layout) -> None:
        """A removed camera's count emptied (and every camera's once one camera is left), each kept
        camera's published once several run, the device's total again (under ``_lock``)."""
        if not self.mqtt.publish_count:
            return
        for name, old in was.cameras.items():
            if was.several and (name not in layout.cameras or not layout.several):
                self.clear(old.topics.camera_count)
        if layout.several and not was.several:
            for name, output in layout.cameras.items():
                if name in self._counts:
                    self._set(output.topics.camera_count, str(self._counts[name]).encode())
        for topic, value in self._device_total_changed(layout):
            self._set(topic, str(value).encode())
