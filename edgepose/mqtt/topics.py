"""Topic names, all derived from the config in one place.

Default prefix ``edgepose/<device_id>``; under it ``available``, ``meta``, ``stats``, ``count``
(device-wide) and per camera ``<camera>/poses``, ``events``, ``zones/<zone>``, ``fall``,
``reps/reset`` and, with several cameras, ``<camera>/count``. A :class:`Topics` is one camera's
view of them (:meth:`Topics.for_camera` gives another camera's); ``camera_of`` reads the camera
back from a topic a wildcard filter matched.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from edgepose.config.cameras import camera_names
from edgepose.config.sections import Config
from edgepose.errors import ConfigError

MAX_TOPIC_BYTES = 65_535  # MQTT: a topic is a UTF-8 string with a 16-bit length
PLACEHOLDERS = ("device", "site")  # what mqtt.topic_prefix may hold as {name}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def expand_prefix(prefix: str, device: str, site: str) -> str:
    """``mqtt.topic_prefix`` with ``{device}`` and ``{site}`` filled in (empty: ``edgepose/<device>``).

    Raises :class:`ConfigError` (key ``mqtt.topic_prefix``) for an unknown placeholder, a stray
    brace, or ``{site}`` without a ``site``, so a fleet's config is refused at load, not at publish.
    """
    values = {"device": device, "site": site}
    for match in PLACEHOLDER.finditer(prefix):
        if match.group(1) not in values:
            raise ConfigError(
                f"mqtt.topic_prefix: unknown placeholder {match.group(0)} in {prefix!r}",
                f"the placeholders are {', '.join('{' + p + '}' for p in PLACEHOLDERS)}",
            )
    if "{" in PLACEHOLDER.sub("", prefix) or "}" in PLACEHOLDER.sub("", prefix):
        raise ConfigError(f"mqtt.topic_prefix: a stray brace in {prefix!r}", "placeholders are {device} and {site}")
    if "{site}" in prefix and not site:
        raise ConfigError(f"mqtt.topic_prefix: {prefix!r} uses {{site}} but site is empty", "set site", key="site")
    expanded = PLACEHOLDER.sub(lambda m: values[m.group(1)], prefix).rstrip("/")
    return expanded or f"edgepose/{device or 'edgepose'}"


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be sent as UTF-8 at all (YAML's ``"\\ud800"`` makes a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_topic(topic: str, what: str) -> str:
    """Return ``topic`` if it is a valid topic to publish to, else raise :class:`ConfigError`.

    Publishing forbids the wildcards ``+`` and ``#``; ``$`` topics are the broker's own.
    """
    problem = None
    if not topic:
        problem = "is empty"
    elif "+" in topic or "#" in topic:
        problem = "contains a wildcard (+ or #), which cannot be published to"
    elif "\x00" in topic:
        problem = "contains a NUL character"
    elif topic.startswith("$"):
        problem = "starts with $, which brokers reserve for their own topics"
    elif not topic.isascii() and not _is_utf8(topic):
        problem = "is not UTF-8 text (a lone surrogate such as \\ud800)"
    elif len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        problem = f"is longer than {MAX_TOPIC_BYTES} bytes"
    if problem:
        raise ConfigError(f"{what}: topic {topic!r} {problem}", "check mqtt.topic_prefix, device_id and source.camera")
    return topic


@dataclass(frozen=True)
class Topics:
    """Every topic edgepose publishes to (and ``edgepose watch`` subscribes to)."""

    prefix: str
    camera: str

    @classmethod
    def from_config(cls, config: Config) -> Topics:
        """The topics of ``config``'s (first) camera: ``source.camera``, or the first of ``cameras``."""
        prefix = expand_prefix(config.mqtt.topic_prefix, config.device_id, config.site)
        topics = cls(prefix, camera_names(config)[0])
        for name in ("available", "meta", "stats", "count", "poses", "events", "fall", "reps_reset", "camera_count"):
            check_topic(getattr(topics, name), f"mqtt topic '{name}'")
        for zone in config.analysis.zones:
            check_topic(topics.zone(zone.name), f"mqtt topic of zone '{zone.name}'")
        return topics

    def for_camera(self, camera: str) -> Topics:
        """The same prefix, camera ``camera``'s topics."""
        return dataclasses.replace(self, camera=camera)

    def camera_of(self, topic: str, suffix: str) -> str | None:
        """The camera of ``<prefix>/<camera>/<suffix>`` (``suffix`` e.g. ``fall``, ``zones/``, a
        trailing ``/`` meaning anything under it); None for any other topic."""
        head = f"{self.prefix}/"
        if not topic.startswith(head):
            return None
        camera, sep, rest = topic[len(head) :].partition("/")
        if not camera or not sep:
            return None
        if suffix.endswith("/"):
            ok = rest.startswith(suffix) and len(rest) > len(suffix) and "/" not in rest[len(suffix) :]
        else:
            ok = rest == suffix
        return camera if ok else None

    def every_camera(self, suffix: str) -> str:
        """Subscription filter for ``<prefix>/+/<suffix>``: that topic of every camera under this prefix."""
        return f"{self.prefix}/+/{suffix}"

    @property
    def available(self) -> str:
        """``online`` (retained) while connected, ``offline`` (retained) as the will and on shutdown."""
        return f"{self.prefix}/available"

    @property
    def meta(self) -> str:
        return f"{self.prefix}/meta"

    @property
    def stats(self) -> str:
        return f"{self.prefix}/stats"

    @property
    def count(self) -> str:
        return f"{self.prefix}/count"

    @property
    def camera_count(self) -> str:
        """This camera's number of people (retained), published only with several cameras; ``count``
        is then the device's total."""
        return f"{self.prefix}/{self.camera}/count"

    @property
    def poses(self) -> str:
        return f"{self.prefix}/{self.camera}/poses"

    @property
    def events(self) -> str:
        """The analysis stage's events (QoS 1, not retained)."""
        return f"{self.prefix}/{self.camera}/events"

    @property
    def fall(self) -> str:
        """Whether anyone is down (``edgepose.fall/1``, retained; with analysis.behaviours.falls)."""
        return f"{self.prefix}/{self.camera}/fall"

    @property
    def reps_reset(self) -> str:
        """Subscribed (with analysis.behaviours.reps): an empty payload resets every count, a track id one."""
        return f"{self.prefix}/{self.camera}/reps/reset"

    def zone(self, name: str) -> str:
        """A zone's retained state (``edgepose.zone/1``)."""
        return f"{self.prefix}/{self.camera}/zones/{name}"

    @property
    def all_poses(self) -> str:
        """Subscription filter for the poses of every camera under this prefix."""
        return f"{self.prefix}/+/poses"
