"""/metrics with several cameras: each camera's figures in ``edgepose_camera_*`` families labelled
``camera``, beside the unlabelled totals, parsed back with the Prometheus parser."""

from __future__ import annotations

import re
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from edgepose.service.health_http import DAEMON_KEYS, Probe, render_metrics
from edgepose.stats import RunStats

NOW = 11.0  # ten seconds after the start (a start of 0.0 reads as not started)


def two_cameras() -> RunStats:
    """Totals and two cameras, counted as the pipeline counts: a camera's counters reach the totals by
    themselves (``RunStats.parent``); its timings are recorded in both."""
    stats = RunStats(started_mono=1.0)
    for name, frames, people, inference in (("front", 30, 2, 7.0), ("garden", 12, 0, 9.0)):
        camera = stats.camera(name)
        camera.count("captured", frames + 1)
        camera.count("processed", frames)
        camera.count("skipped", 1)
        camera.count("published", frames)
        for one in (camera, stats):
            for _ in range(frames):
                one.inference_ms.add(inference)
        camera.people = people
    stats.camera("garden").fail("read failed")
    stats.people = 2
    stats.accelerator_fallbacks = 1
    return stats


def probe_of(stats: RunStats) -> Probe:
    return Probe("running", True, (), stats.snapshot(NOW), cameras=stats.camera_snapshots(NOW))


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_each_camera_has_its_own_labelled_samples_beside_the_totals() -> None:
    got = samples(render_metrics(probe_of(two_cameras())))
    front, garden = (("camera", "front"),), (("camera", "garden"),)
    assert got[("edgepose_frames_processed_total", ())] == 42  # the totals, unlabelled as with one camera
    assert got[("edgepose_camera_frames_processed_total", front)] == 30
    assert got[("edgepose_camera_frames_processed_total", garden)] == 12
    assert got[("edgepose_camera_frames_captured_total", front)] == 31
    assert got[("edgepose_camera_frames_skipped_total", garden)] == 1
    assert got[("edgepose_camera_frames_failed_total", garden)] == 1
    assert got[("edgepose_camera_frames_failed_total", front)] == 0
    assert got[("edgepose_camera_documents_published_total", front)] == 30
    assert got[("edgepose_camera_people", front)] == 2 and got[("edgepose_camera_people", garden)] == 0
    assert got[("edgepose_camera_processed_fps", front)] == 3.0
    assert got[("edgepose_camera_camera_fps", garden)] == 1.3  # the total's name, camera_fps, after camera_
    assert got[("edgepose_camera_inference_milliseconds", (("camera", "front"), ("quantile", "0.5")))] == 7.0
    assert got[("edgepose_camera_inference_milliseconds", (("camera", "garden"), ("quantile", "0.95")))] == 9.0
    assert got[("edgepose_inference_milliseconds", (("quantile", "0.5"),))] == 7.0


def test_an_empty_window_of_one_camera_gives_no_sample() -> None:
    got = samples(render_metrics(probe_of(two_cameras())))
    assert not any(name == "edgepose_camera_latency_milliseconds" for name, _ in got)


def test_the_daemons_own_figures_are_not_per_camera() -> None:
    got = samples(render_metrics(probe_of(two_cameras())))
    assert {"uptime_s", "accelerator_fallbacks"} == DAEMON_KEYS
    assert got[("edgepose_uptime_seconds", ())] == 10.0
    assert got[("edgepose_accelerator_fallbacks", ())] == 1
    assert not any(
        name in ("edgepose_camera_uptime_seconds", "edgepose_camera_accelerator_fallbacks") for name, _ in got
    )


def test_a_figure_added_to_the_snapshot_later_shows_per_camera() -> None:
    probe = Probe("running", True, (), {"new_figure": 3}, cameras={"front": {"new_figure": 1.5}})
    got = samples(render_metrics(probe))
    assert got[("edgepose_new_figure", ())] == 3
    assert got[("edgepose_camera_new_figure", (("camera", "front"),))] == 1.5


def test_the_text_keeps_the_format_rules() -> None:
    """One HELP and one TYPE per family, each family's lines together, none mixing labelled and not."""
    text = render_metrics(probe_of(two_cameras()))
    helps = re.findall(r"^# HELP (\S+)", text, re.M)
    types = re.findall(r"^# TYPE (\S+)", text, re.M)
    assert len(helps) == len(set(helps)) and helps == types
    order: list[str] = []
    camera_labelled: dict[str, set[bool]] = defaultdict(set)
    for line in text.splitlines():
        if line.startswith("#"):
            order.append(line.split()[2])
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)[0]
        assert name in (order[-1], order[-1] + "_total"), f"{name} outside its family {order[-1]}"
        camera_labelled[name].add('camera="' in line)
    assert all(len(kinds) == 1 for kinds in camera_labelled.values()), camera_labelled
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["edgepose_camera_frames_processed"].type == "counter"
    assert families["edgepose_camera_people"].type == "gauge"


def test_without_cameras_the_output_is_the_one_camera_output() -> None:
    stats = RunStats(started_mono=1.0)
    stats.count("processed", 4)
    stats.inference_ms.add(5.0)
    snapshot = stats.snapshot(NOW)
    text = render_metrics(Probe("running", True, (), snapshot))
    assert render_metrics(Probe("running", True, (), snapshot, cameras={})) == text
    assert render_metrics(Probe("running", True, (), snapshot, cameras=stats.camera_snapshots(NOW))) == text
    assert 'camera="' not in text
    assert "edgepose_frames_processed_total 4\n" in text
    assert '# TYPE edgepose_inference_milliseconds gauge\nedgepose_inference_milliseconds{quantile="0.5"} 5\n' in text
