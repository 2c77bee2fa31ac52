"""/metrics text built from a probe: parsed back with the Prometheus parser, edge cases included."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from edgepose.service.health_http import Probe, healthz_body, render_metrics
from edgepose.sinks.base import Sink


class CountingSink(Sink):
    def __init__(self, name: str) -> None:
        self.name = name
        self.dropped = 3

    def counters(self) -> dict[str, object]:
        return {"sent": 120, "buffered bytes": 2048, "connected": True, "broker": "localhost"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_render_metrics_round_trips_through_the_prometheus_parser():
    probe = Probe(
        state="running",
        healthy=False,
        reasons=("source: no frame for 10 s", "accelerator: invoke hung"),
        snapshot={"processed": 42, "people": 2, "inference_ms_p50": 7.5, "latency_ms_p99": None, "new_figure": 1.25},
        sinks=(CountingSink('mqtt "main"\\x'),),
    )
    got = samples(render_metrics(probe))
    assert got[("edgepose_frames_processed_total", ())] == 42
    assert got[("edgepose_people", ())] == 2
    assert got[("edgepose_inference_milliseconds", (("quantile", "0.5"),))] == 7.5
    assert not any(name == "edgepose_latency_milliseconds" for name, _ in got)  # empty window: no sample
    assert got[("edgepose_new_figure", ())] == 1.25  # a figure added to the snapshot later still shows
    assert got[("edgepose_healthy", ())] == 0 and got[("edgepose_ready", ())] == 1
    assert got[("edgepose_component_unhealthy", (("component", "accelerator"),))] == 1
    sink = (("sink", 'mqtt "main"\\x'),)  # quotes and backslashes survive the label escaping
    assert got[("edgepose_sink_dropped_total", sink)] == 3
    assert got[("edgepose_sink_sent", sink)] == 120
    assert got[("edgepose_sink_buffered_bytes", sink)] == 2048
    assert got[("edgepose_sink_connected", sink)] == 1  # a flag as 1/0
    assert not any(name == "edgepose_sink_broker" for name, _ in got)  # text is not a metric


def test_healthz_body():
    ok = Probe("running", True, (), {})
    assert healthz_body(ok) == (200, {"status": "ok", "reasons": []})
    assert healthz_body(Probe("running", False, ("pipeline: stalled",), {})) == (
        503,
        {"status": "unhealthy", "reasons": ["pipeline: stalled"]},
    )
    assert healthz_body(Probe("starting", True, ("service: starting",), {}))[0] == 503
