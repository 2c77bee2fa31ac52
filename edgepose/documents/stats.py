"""The ``stats`` document: pipeline figures, host facts and a sink's counters, published periodically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgepose.config.cameras import camera_names
from edgepose.config.sections import Config
from edgepose.stats import RunStats
from edgepose.system import cpu_temperature, rss_bytes, throttled

STATS_SCHEMA = "edgepose.stats/1"  # edgepose/schema/stats.v1.json
CAMERA_FIGURES = ("captured", "processed", "skipped", "failed", "people", "processed_fps")  # per camera in stats


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
    """The stats document at ``now_mono`` (monotonic s), stamped ``wall`` (Unix s): the daemon's
    totals, and with several cameras ``cameras``, each camera's own figures (:data:`CAMERA_FIGURES`)."""
    several = len(camera_names(config)) > 1  # one camera's own figures are the totals (a one-entry cameras: too)
    cameras = (
        {name: {k: figures[k] for k in CAMERA_FIGURES} for name, figures in stats.camera_snapshots(now_mono).items()}
        if several
        else {}
    )
    return {
        "schema": STATS_SCHEMA,
        "device": config.device_id,
        "camera": camera_names(config)[0],
        "ts": round(wall, 3),
        **stats.snapshot(now_mono),
        **({"cameras": cameras} if cameras else {}),
        **facts,
        sink_name: dict(sink_counters),
    }
