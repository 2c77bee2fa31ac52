"""The ``stats`` document: pipeline figures, host facts and a sink's counters, published periodically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgepose.config.sections import Config
from edgepose.stats import RunStats
from edgepose.system import cpu_temperature, rss_bytes, throttled

STATS_SCHEMA = "edgepose.stats/1"  # edgepose/schema/stats.v1.json


def host_facts() -> dict[str, Any]:
    """The host figures the stats document carries (None where the host does not expose them)."""
    return {"cpu_temperature_c": cpu_temperature(), "throttled": throttled(), "rss_bytes": rss_bytes()}


def stats_document(
    config: Config,
    stats: RunStats,
    now_mono: float,
    wall: float,
    facts: Mapping[str, Any],
    sink_counters: Mapping[str, int | float],
    sink_name: str = "mqtt",
) -> dict[str, Any]:
    """The stats document at ``now_mono`` (monotonic s), stamped ``wall`` (Unix s)."""
    return {
        "schema": STATS_SCHEMA,
        "device": config.device_id,
        "camera": config.source.camera,
        "ts": round(wall, 3),
        **stats.snapshot(now_mono),
        **facts,
        sink_name: dict(sink_counters),
    }
