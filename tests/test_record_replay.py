"""edgepose record and edgepose replay against a real Mosquitto, and the recorder on a full disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgepose.client import Poses, Stats
from edgepose.client.recording import Recorder, RecordOptions, day_of
from edgepose.client.replay import ReadReport, Recorded, merged, paced
from edgepose.errors import EX_CONFIG, EX_NOINPUT, EX_OK, EX_UNAVAILABLE
from tests.bad_files import fill, tmpfs
from tests.fleet_docs import encode, pose_document, stats_document
from tests.mosquitto import HOST, Collector, free_port
from tests.mosquitto_bridge import Publisher

TS = 1_764_633_600.0  # 2025-12-02 00:00:00 UTC


def edgepose(*args: str, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "edgepose", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def published_fleet() -> list[tuple[str, dict]]:
    """Two devices: pi-1 skips frames 3 and 4, pi-2 is complete; one stats document each."""
    out = []
    for frame in (0, 1, 2, 5, 6):
        out.append(("edgepose/pi-1/cam0/poses", pose_document("pi-1", "cam0", frame, TS + frame / 15)))
    for frame in range(5):
        out.append(("edgepose/pi-2/cam0/poses", pose_document("pi-2", "cam0", frame, TS + frame / 15, seed=2)))
    out.append(("edgepose/pi-1/stats", stats_document("pi-1", "cam0", TS + 0.5)))
    out.append(("edgepose/pi-2/stats", stats_document("pi-2", "cam0", TS + 0.5)))
    return out


def test_record_then_replay_round_trips_the_documents(tmp_path, broker):
    fleet = published_fleet()
    rec = edgepose(
        "record",
        "--host",
        HOST,
        "--port",
        str(broker.port),
        "--dir",
        str(tmp_path / "rec"),
        "--count",
        str(len(fleet)),
        "--summary-json",
        str(tmp_path / "summary.json"),
    )
    first = rec.stderr.readline()
    assert "subscribed to" in first, first + rec.stderr.read()
    pub = Publisher(broker.port, "fleet")
    for topic, doc in fleet:
        pub.publish(topic, encode(doc))
    pub.close()
    code, out, err = finish(rec)
    assert code == EX_OK, err
    day = day_of(TS)
    files = sorted((tmp_path / "rec").rglob("*.jsonl"))
    assert [f.relative_to(tmp_path / "rec").as_posix() for f in files] == [
        f"pi-1/cam0/{day}.jsonl",
        f"pi-2/cam0/{day}.jsonl",
    ]
    recorded = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted(recorded, key=json.dumps) == sorted((d for _, d in fleet), key=json.dumps)
    assert f"recorded {len(fleet)} document(s) in 2 file(s)" in out
    assert "pi-1/cam0: 5 pose document(s), frames 0..6, 2 missing in 1 gap(s)" in out
    assert "pi-1/cam0: 2 frame(s) missing after frame 2" in first + err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["written"] == len(fleet) and summary["invalid"] == 0
    assert [(s["device"], s["missing"]) for s in summary["streams"]] == [("pi-1", 2), ("pi-2", 0)]

    collector = Collector(broker, ["edgepose/#"])
    code, _, err = finish(
        edgepose("replay", *map(str, files), "--speed", "0", "--host", HOST, "--port", str(broker.port))
    )
    assert code == EX_OK, err
    assert f"{len(fleet)} document(s) published" in err and "0 bad line(s) skipped" in err
    assert collector.wait_for(lambda c: len(c.messages) == len(fleet), 30)
    collector.close()
    assert sorted((m.topic, json.dumps(m.json())) for m in collector.messages) == sorted(
        (t, json.dumps(d)) for t, d in fleet
    )
    # merged by capture time across the two files, and in order within each device
    replayed = [m.json() for m in collector.messages]
    assert [d["ts"] for d in replayed] == sorted(d["ts"] for d in replayed)


def test_bad_lines_are_counted_reported_and_skipped(tmp_path, broker):
    good = [pose_document("pi-1", "cam0", f, TS + f) for f in range(2)]
    invalid = pose_document("pi-1", "cam0", 2, TS + 2)
    invalid["frame"] = -1
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [json.dumps(good[0]), "{cut off", "", json.dumps({"hello": 1}), json.dumps(invalid), json.dumps(good[1])]
        )
        + "\n"
    )
    collector = Collector(broker, ["edgepose/#"])
    code, _, err = finish(edgepose("replay", str(path), "--speed", "0", "--host", HOST, "--port", str(broker.port)))
    assert code == EX_OK, err
    assert "2 document(s) published" in err
    assert "4 bad line(s) skipped (empty: 1, no schema: 1, not JSON: 1, schema: 1)" in err
    assert f"skipped {path}:2: not JSON" in err and f"skipped {path}:5: poses.v1.json: frame:" in err
    assert collector.wait_for(lambda c: len(c.messages) == 2, 30)
    collector.close()
    assert [m.json() for m in collector.messages] == good


@pytest.mark.parametrize(
    ("content", "args", "code", "message"),
    [
        ("not json\n", [], EX_NOINPUT, "no document to replay"),  # nothing usable in the file
        (None, [], EX_NOINPUT, "does not exist"),  # no such file
        ("", ["--speed", "-1"], EX_CONFIG, "--speed must be"),  # a pace backwards
        (
            json.dumps(pose_document("pi-1", "cam0", 0, TS)),
            ["--port", "unreachable"],
            EX_UNAVAILABLE,
            "could not connect",
        ),
    ],
)
def test_replay_exit_codes(tmp_path, content, args, code, message):
    path = tmp_path / "poses.jsonl"
    if content is not None:
        path.write_text(content)
    if args == ["--port", "unreachable"]:
        args = ["--host", HOST, "--port", str(free_port())]
    got, _, err = finish(edgepose("replay", str(path), *args))
    assert got == code, err
    assert message in err


def test_paced_waits_for_each_documents_turn():
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(round(s, 6))
        now[0] += s

    items = [Recorded(Path("f"), i, ts, "pi", "cam0", "poses", b"") for i, ts in enumerate([10.0, 10.5, 11.0, 9.0])]
    out = list(paced(items, 2.0, clock=lambda: now[0], sleep=sleep))
    assert out == items
    assert waits == [0.25, 0.25]  # half a second of capture at 2x; the ts that goes back is not waited for


def test_merged_orders_files_by_capture_time(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(pose_document("a", "cam0", f, TS + 2 * f)) + "\n" for f in range(3)))
    b.write_text("".join(json.dumps(pose_document("b", "cam0", f, TS + 2 * f + 1)) + "\n" for f in range(3)))
    report = ReadReport()
    assert [(r.device, r.ts - TS) for r in merged([a, b], report)] == [
        ("a", 0),
        ("b", 1),
        ("a", 2),
        ("b", 3),
        ("a", 4),
        ("b", 5),
    ]
    assert report.documents == 6 and report.total_bad == 0


def typed(doc: dict) -> Poses:
    return Poses("t", doc["device"], doc["camera"], doc["frame"], doc["ts"], doc["poses"], doc)


def test_days_and_size_rotation(tmp_path):
    options = RecordOptions(tmp_path, max_bytes=4000, fsync="always")  # two pose documents a file
    recorder = Recorder(options)
    for frame in range(6):
        assert recorder.write(typed(pose_document("pi", "cam0", frame, TS - 1 + frame * 0.5)))
    recorder.write(Stats("t", "pi", "cam0", TS + 5, 15.0, stats_document("pi", "cam0", TS + 5)))
    recorder.close()
    names = sorted(p.name for p in (tmp_path / "pi" / "cam0").iterdir())
    before, after = day_of(TS - 1), day_of(TS)
    assert before != after
    assert names == [f"{before}.jsonl", f"{after}.1.jsonl", f"{after}.jsonl"]  # sorted: .1 before the dot
    assert all(p.stat().st_size <= 4000 for p in (tmp_path / "pi" / "cam0").iterdir())
    lines = [json.loads(x) for p in sorted((tmp_path / "pi").rglob("*.jsonl")) for x in p.read_text().splitlines()]
    assert len(lines) == 7


def test_a_name_that_is_no_file_name_is_dropped_not_written(tmp_path):
    recorder = Recorder(RecordOptions(tmp_path))
    assert not recorder.write(typed(pose_document("../etc", "cam0", 0, TS)))
    recorder.close()
    assert recorder.failures.dropped == {"bad-name": 1} and list(tmp_path.iterdir()) == []


def test_a_full_disk_drops_whole_documents_and_writing_resumes(tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        recorder = Recorder(RecordOptions(disk / "rec", fsync="never"))
        assert recorder.write(typed(pose_document("pi", "cam0", 0, TS)))
        filler = fill(disk, leave=0)
        results = [recorder.write(typed(pose_document("pi", "cam0", f, TS + f / 15))) for f in range(1, 6)]
        # the file's last page may still take a line or so; after that every write fails
        assert results.count(False) >= 3 and results[-1] is False
        assert recorder.failures.dropped == {"ENOSPC": results.count(False)}
        filler.unlink()
        assert recorder.write(typed(pose_document("pi", "cam0", 6, TS + 6 / 15)))
        recorder.close()
        path = disk / "rec" / "pi" / "cam0" / f"{day_of(TS)}.jsonl"
        written = [0] + [f for f, ok in zip(range(1, 6), results, strict=True) if ok] + [6]
        assert [json.loads(x)["frame"] for x in path.read_text().splitlines()] == written  # no half line


def test_record_without_a_broker_is_unavailable(tmp_path):
    code, _, err = finish(edgepose("record", "--host", HOST, "--port", str(free_port()), "--dir", str(tmp_path)))
    assert code == EX_UNAVAILABLE, err  # it gives up (finish waits a bounded time) and says why
    assert "could not subscribe" in err


def test_record_refuses_bad_options(tmp_path):
    code, _, err = finish(edgepose("record", "--dir", str(tmp_path), "--fsync-interval", "0"))
    assert code == EX_CONFIG and "--fsync-interval must be positive" in err


def test_record_validate_skips_and_counts_a_document_the_schema_refuses(tmp_path, broker):
    rec = edgepose(
        "record",
        "--host",
        HOST,
        "--port",
        str(broker.port),
        "--dir",
        str(tmp_path / "rec"),
        "--validate",
        "--count",
        "1",
        "--summary-json",
        str(tmp_path / "summary.json"),
    )
    assert "subscribed to" in rec.stderr.readline()
    bad = pose_document("pi-1", "cam0", 0, TS)
    del bad["poses"]
    pub = Publisher(broker.port, "fleet")
    pub.publish("edgepose/pi-1/cam0/poses", encode(bad))
    pub.publish("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", 1, TS)))
    pub.close()
    code, _, err = finish(rec)
    assert code == EX_OK, err
    assert "skipped a message on edgepose/pi-1/cam0/poses: poses.v1.json: (document): 'poses' is a required" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["written"], summary["invalid"]) == (1, 1)
