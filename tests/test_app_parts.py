"""App builds every part through AppParts: a test swaps the source, the sinks and the tracking stage."""

from __future__ import annotations

import numpy as np

from edgepose.app import App, AppParts
from edgepose.config import load_config
from edgepose.tools.bench.runner import MemorySource
from tests.builders.pipeline import ListSink


def test_app_runs_with_injected_parts_and_stops_them(squat_rgb: np.ndarray) -> None:
    config = load_config(None, ["model.name=movenet_lightning_int8", "model.threads=1", "sinks=['stdout']"])
    made: dict[str, object] = {}

    def source(config, health, stats, model_input):  # type: ignore[no-untyped-def]
        made["model_input"] = model_input
        made["source"] = MemorySource([squat_rgb], continuous=True, limit=3)
        return made["source"]

    def sink(spec, config, stats, commands):  # type: ignore[no-untyped-def]
        made["spec"] = spec
        made["sink"] = ListSink()
        return made["sink"]

    ticks = iter(range(10**6))
    app = App(
        config, AppParts(source=source, sink=sink, tracking=lambda config: None, clock=lambda: float(next(ticks)))
    )
    app.start()
    try:
        stats = app.run()
    finally:
        app.stop()
    assert made["spec"] == "stdout" and made["model_input"] == (192, 192)
    documents = made["sink"].documents  # type: ignore[attr-defined]
    assert stats.processed == len(documents) == 3
    assert all(p["id"] is None for d in documents for p in d["poses"])  # no tracking stage: no ids
    assert app.clock() > 0 and app.pipeline is not None and app.pipeline.clock is app.clock
