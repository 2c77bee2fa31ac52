"""``edgepose bench --summary``: the limit run and the daemon's footprint joined, one row per model and engine.

The join and the table are checked on summaries made by ``bench.limit.summary`` from given tallies
(no model runs); the CLI is checked for its flag and refusals, and by one short real run.
"""

from __future__ import annotations

import json

import pytest

from edgepose.tools.bench.footprint import Footprint
from edgepose.tools.bench.limit import Setup, Tally, summary
from edgepose.tools.bench.summary import NO_DAEMON, join, markdown
from tests.builders.cli import run_cli
from tests.builders.paths import MOVENET


class _Named:
    """The one thing ``limit.summary`` asks of an estimator."""

    model_name = "movenet_lightning"


def limit_summary(accelerator: str, peer_note: str = "no --peer", peer_fps: float | None = None) -> dict:
    """What ``run_limit`` gives for one configuration: 10 s of each variant, bare at 60 fps, serial at
    50, overlapped at 40 (the peer's loop at ``peer_fps`` when there is one)."""
    engine = "real" if accelerator in ("cpu", "edgetpu") else "sleep:7ms"
    s = Setup(engine, accelerator, 2, None, [], None, _Named(), peer_note="" if peer_fps else peer_note)
    tallies = {"bare": Tally(600, 10.0), "serial": Tally(500, 10.0), "overlap": Tally(400, 10.0)}
    if peer_fps:
        tallies["peer"] = Tally(int(peer_fps * 10), 10.0)
    return summary(s, tallies)


FOOTPRINT = Footprint("m.tflite", "numba", 15.0, 3.2, 1.1, 95.0, 160.0, 4.5, 14.9)


def table_line(row) -> list[str]:
    (line,) = markdown([row]).splitlines()[2:]
    return [c.strip() for c in line.strip("|").split("|")]


def test_a_cpu_row_is_the_serial_pipeline_beside_the_daemons_footprint():
    row = join(limit_summary("cpu", peer_fps=62.5), FOOTPRINT, "auto")
    assert (row.schedule, row.fps, row.bare_fps, row.ratio) == ("serial", 50.0, 60.0, 0.833)
    assert (row.peer_fps, row.vs_peer, row.peer_note) == (62.5, 0.8, "")
    assert (row.kernel, row.cpu_ms_per_frame, row.daemon_fps, row.pss_mb) == ("numba", 4.5, 14.9, 95.0)
    assert (row.first_document_cold, row.first_document_warm, row.footprint_note) == (3.2, 1.1, "")
    assert table_line(row) == [
        "movenet_lightning",
        "real (cpu)",
        "2",
        "serial",
        "50.0",
        "60.0",
        "0.833",
        "62.5",
        "0.800",
        "numba",
        "4.5",
        "14.9 (cap 15)",
        "95",
        "3.2",
        "1.1",
    ]


def test_an_accelerator_row_is_the_overlapped_pipeline_and_a_stand_in_has_no_daemon():
    row = join(limit_summary("sleep"), None, "auto")
    assert (row.schedule, row.fps, row.ratio) == ("overlap", 40.0, 0.667)
    assert row.pss_mb is None and row.footprint_note == NO_DAEMON
    cells = table_line(row)
    assert cells[1] == "sleep:7ms" and cells[10:] == [NO_DAEMON, "-", "-", "-", "-"]


@pytest.mark.parametrize(
    ("accelerator", "overlap", "schedule"),
    [("cpu", "on", "overlap"), ("sleep", "off", "serial"), ("edgetpu", "auto", "overlap"), ("cpu", "off", "serial")],
)
def test_the_row_is_the_schedule_model_overlap_gives_the_daemon(accelerator, overlap, schedule):
    assert join(limit_summary(accelerator), FOOTPRINT, overlap).schedule == schedule


@pytest.mark.parametrize("note", ["no --peer", "n/a (CPU only)", "n/a (MoveNet SinglePose only)"])
def test_a_missing_peer_shows_why(note):
    row = join(limit_summary("cpu", peer_note=note), FOOTPRINT, "auto")
    assert row.peer_fps is None and row.vs_peer is None
    assert table_line(row)[7:9] == [note, "-"]


def test_the_flag_parses_into_the_bench_command():
    from edgepose.cli import build_parser
    from edgepose.cli.bench import bench

    args = build_parser().parse_args(["bench", "--summary", "--fps-cap", "10"])
    assert args.summary and args.func is bench and args.fps_cap == 10.0
    assert not build_parser().parse_args(["bench"]).summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps-cap", "0"], "--fps-cap"),  # the footprint's check: the default table would ignore it
        (["--engine", "gpu"], "is not an engine"),
        (["--rounds", "0"], "--rounds"),
        (["--footprint"], "choose one"),
    ],
)
def test_summary_refusals(squat_path, args, message):
    proc = run_cli("bench", "--summary", "--source", str(squat_path), "--frames", "2", *args)
    assert proc.returncode == 78 and message in proc.stderr


def test_a_missing_model_is_refused_before_any_model_runs(squat_path):
    args = ["--summary", "--models", f"{MOVENET},no_such_model.tflite", "--source", str(squat_path), "--frames", "2"]
    proc = run_cli("bench", *args)
    assert proc.returncode == 66 and "no_such_model.tflite" in proc.stderr
    assert "limit run" not in proc.stderr and proc.stdout == ""


@pytest.mark.slow
def test_a_real_summary_has_a_row_per_engine(walking_video, tmp_path):
    out = tmp_path / "summary.json"
    args = ["--summary", "--engine", "real,sleep:2ms", "--models", MOVENET, "--threads", "1"]
    args += ["--source", str(walking_video), "--frames", "4", "--seconds", "1.5", "--rounds", "2", "--json", str(out)]
    proc = run_cli("bench", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("| movenet")]
    assert [line.split(" | ")[1:4] for line in lines] == [["real (cpu)", "1", "serial"], ["sleep:2ms", "1", "overlap"]]
    data = json.loads(out.read_text())
    real, sleep = data["summary"]
    assert real["fps"] > 0 and real["bare_fps"] > 0 and real["peer_note"] == "no --peer"
    assert real["kernel"] in ("numba", "numpy") and real["fps_cap"] == 15.0
    assert real["pss_mb"] > 20 and real["cpu_ms_per_frame"] > 0
    assert real["first_document_cold"] > 0 and real["first_document_warm"] > 0
    assert sleep["fps"] > 0 and sleep["pss_mb"] is None and sleep["footprint_note"] == NO_DAEMON
    assert len(data["configurations"]) == 2 and len(data["footprint"]) == 1  # what the rows were joined from
