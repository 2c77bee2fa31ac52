"""What other programs publish under a device's topics: each hostile document is a typed refusal,
counted and named once, and ``edgepose record`` goes on; what it acknowledged is on its disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepose.client import FleetClient, Invalid, Poses, parse_message, schema_validators
from edgepose.client.recording import Recorder, RecordOptions, day_of
from edgepose.config import load_config
from edgepose.config.sections import MqttConfig
from edgepose.errors import ConfigError
from edgepose.names import is_camera_name, is_device_name
from tests.fleet_docs import encode, pose_document
from tests.mosquitto import HOST
from tests.mosquitto_bridge import Publisher, wait_until

TS = 1_764_633_600.0
TOPIC = "edgepose/pi-1/cam0/poses"


def with_field(key: str, value: object) -> bytes:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc[key] = value
    return encode(doc)


def raw_field(key: str, text: str) -> bytes:
    """A pose document whose ``key`` is ``text`` as written (NaN, 1e400: what json.dumps would not write)."""
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc[key] = "@@"
    return encode(doc).replace(b'"@@"', text.encode())


HOSTILE = {
    "ts NaN": (raw_field("ts", "NaN"), "non-finite number"),
    "ts Infinity": (raw_field("ts", "-Infinity"), "non-finite number"),
    "ts 1e20": (with_field("ts", 1e20), "out of range"),
    "ts negative": (with_field("ts", -5.0), "out of range"),
    "ts a string": (with_field("ts", "yesterday"), "bad field"),
    "ts true": (with_field("ts", True), "bad field"),
    "frame 1e400": (raw_field("frame", "1e400"), "non-finite number"),
    "frame 1.5": (with_field("frame", 1.5), "bad field"),
    "frame 2**64": (with_field("frame", 2**64), "out of range"),
    "camera null": (with_field("camera", None), "bad name"),
    "camera 7": (with_field("camera", 7), "bad name"),
    "camera ../..": (with_field("camera", "../.."), "bad name"),
    "camera another": (with_field("camera", "cam9"), "wrong camera"),
    "device a+b": (with_field("device", "a+b"), "bad name"),
    "poses 5": (with_field("poses", 5), "bad field"),
    "no ts": (encode({k: v for k, v in pose_document("pi-1", "cam0", 0, TS).items() if k != "ts"}), "missing field"),
    "100,000 nested [": (b"[" * 100_000, "too deep"),
    "40 nested objects": (with_field("extra", json.loads('{"a":' * 40 + "1" + "}" * 40)), "too deep"),
    "not UTF-8": (b'{"device": "\xff"}', "not JSON"),
    "a list": (b"[1, 2]", "not an object"),
    "5000 digits": (b'{"frame": ' + b"9" * 5000 + b"}", "not JSON"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("validate", [False, True])
def test_a_hostile_pose_document_is_a_typed_refusal_with_its_cause(name: str, validate: bool) -> None:
    payload, cause = HOSTILE[name]
    validators = schema_validators() if validate else None
    got = parse_message(TOPIC, payload, "pi-1", "cam0", "poses", validators)
    assert isinstance(got, Invalid), got
    if not validate or cause in ("non-finite number", "too deep", "not JSON"):  # else the schema may say first
        assert got.cause == cause, got.reason
    assert got.reason and got.payload == payload


def test_the_schemas_refuse_non_finite_numbers() -> None:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc["poses"][0]["keypoints"][3][0] = float("nan")
    problem = schema_validators()["poses"](doc)
    assert problem is not None and "poses/0/keypoints/3/0" in problem and "finite" in problem


def test_a_documents_own_camera_never_overrides_its_topics() -> None:
    fleet = FleetClient(MqttConfig(), validate=False)
    items = fleet.handle("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "other", 0, TS)))
    assert [type(i) for i in items] == [Invalid] and items[0].cause == "wrong camera"
    items = fleet.handle("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", 0, TS)))
    assert [(type(i), i.camera) for i in items] == [(Poses, "cam0")]


@pytest.mark.parametrize(
    "topic", ["edgepose/pi\x1b[2J/cam0/poses", "edgepose/pi-1/ca m/poses", "edgepose/../cam0/poses"]
)
def test_a_topic_level_that_is_no_name_is_refused(topic: str) -> None:
    fleet = FleetClient(MqttConfig(), validate=False)
    items = fleet.handle(topic, encode(pose_document("pi-1", "cam0", 0, TS)))
    assert [getattr(i, "cause", None) for i in items] == ["bad name"]


# -- one name rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "device", ["pi-1", "pi.local", "_lab", "-x", "a" * 253, "é", ".hidden", "..", "a/b", "a+b", "a" * 254, ""]
)
def test_a_device_name_the_config_accepts_is_one_the_recorder_files(device: str, tmp_path: Path) -> None:
    try:
        config = load_config(None, [f"device_id='{device}'"])
        accepted = config.device_id == device and device != ""
    except ConfigError:
        accepted = False
    assert accepted == is_device_name(device)
    recorder = Recorder(RecordOptions(tmp_path / "rec"))
    doc = pose_document(device, "cam0", 0, TS)
    written = recorder.write(Poses("t", device, "cam0", 0, TS, doc["poses"], doc))
    recorder.close()
    assert written == accepted
    if accepted:
        assert (tmp_path / "rec" / device / "cam0" / f"{day_of(TS)}.jsonl").is_file()


@pytest.mark.parametrize("camera", ["cam0", "back-door", "_x", "a" * 64, "a" * 65, "cam.0", "a/b", "é", ".."])
def test_a_camera_name_the_config_accepts_is_one_the_recorder_files(camera: str, tmp_path: Path) -> None:
    accepted = []
    for override in (f"source.camera='{camera}'", f"cameras={{'{camera}': {{source: {{uri: x.mp4}}}}}}"):
        try:
            load_config(None, [override])
            accepted.append(True)
        except ConfigError:
            accepted.append(False)
    assert accepted == [is_camera_name(camera)] * 2
    recorder = Recorder(RecordOptions(tmp_path / "rec"))
    doc = pose_document("pi-1", camera, 0, TS)
    written = recorder.write(Poses("t", "pi-1", camera, 0, TS, doc["poses"], doc))
    recorder.close()
    assert written == is_camera_name(camera)


# -- edgepose record ----------------------------------------------------------------------------


def edgepose(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "edgepose", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_record_goes_on_past_every_hostile_document_and_names_each_cause_once(tmp_path: Path, broker) -> None:
    good = [pose_document("pi-1", "cam0", f, TS + f) for f in range(3)]
    rec = edgepose(
        "record",
        "--host",
        HOST,
        "--port",
        str(broker.port),
        "--dir",
        str(tmp_path / "rec"),
        "--count",
        str(len(good)),
        "--summary-json",
        str(tmp_path / "summary.json"),
    )
    assert "subscribed to" in rec.stderr.readline()
    pub = Publisher(broker.port, "hostile")
    pub.publish(TOPIC, encode(good[0]))
    for payload, _ in HOSTILE.values():
        pub.publish(TOPIC, payload)
    pub.publish(TOPIC, raw_field("ts", "NaN"))  # a second refusal of one cause: counted, not told again
    pub.publish("edgepose/pi-1/stats", b'{"schema": "edgepose.stats/1", "device": "pi-1", "camera": null}')
    for doc in good[1:]:
        pub.publish(TOPIC, encode(doc))
    pub.close()
    _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    assert "Traceback" not in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    causes = {cause for _, cause in HOSTILE.values()}
    assert summary["written"] == len(good)
    assert summary["invalid"] == len(HOSTILE) + 2 == sum(summary["invalid_causes"].values())
    assert set(summary["invalid_causes"]) == causes
    assert summary["invalid_causes"]["non-finite number"] == 4
    for cause in causes:
        assert err.count(f"further '{cause}' refusals") == 1, (cause, err)
    path = tmp_path / "rec" / "pi-1" / "cam0" / f"{day_of(TS)}.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == good


def test_record_refuses_a_dir_that_is_a_file_before_recording(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    proc = edgepose("record", "--host", HOST, "--port", "1", "--dir", str(tmp_path / "file"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 66 and "is not a directory" in err, err


def test_record_refuses_an_unwritable_summary_json_before_recording(tmp_path: Path) -> None:
    proc = edgepose(
        "record",
        "--host",
        HOST,
        "--port",
        "1",
        "--dir",
        str(tmp_path / "rec"),
        "--summary-json",
        str(tmp_path / "no" / "such" / "summary.json"),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 66 and "cannot write --summary-json" in err, err


# -- nothing acknowledged is lost ---------------------------------------------------------------


def publish_many(port: int, topic_docs: list[tuple[str, bytes]]) -> None:
    """QoS 1, many in flight at once (not one round trip each): what a fleet does to a recorder."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="fleet-burst")
    client.max_inflight_messages_set(1000)
    client.connect(HOST, port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in topic_docs]
    for info in infos:
        info.wait_for_publish(60)
    assert all(i.is_published() for i in infos)
    client.disconnect()
    client.loop_stop()


def recorded_frames(directory: Path, live: bool = False) -> dict[str, set[int]]:
    """The frames in the recorder's files. ``live``: the recorder is running, so a line it is writing
    may be read in part, and is left out; once it has ended (even by a kill -9) no half line may be."""
    out: dict[str, set[int]] = {}
    for path in directory.rglob("*.jsonl"):
        text = path.read_text()
        if live:
            text = text[: text.rfind("\n") + 1]
        assert text == "" or text.endswith("\n")  # no half line, even after a kill -9
        for line in text.splitlines():
            doc = json.loads(line)
            out.setdefault(doc["camera"], set()).add(doc["frame"])
    return out


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_a_kill_9_and_a_resume_lose_nothing_acknowledged(tmp_path: Path, broker, fsync: str) -> None:
    """Thousands of QoS 1 documents wait in the recorder's session; it is killed while taking them and
    started again: every document published is in the files (a redelivered one may be there twice).
    Acknowledged on arrival, what arrived and was not yet written would be gone."""
    cameras, per_camera = 8, 400
    docs = [
        (f"edgepose/pi-1/c{c}/poses", encode(pose_document("pi-1", f"c{c}", f, TS + f / 15, people=1)))
        for f in range(per_camera)
        for c in range(cameras)
    ]
    args = [
        "record",
        "--host",
        HOST,
        "--port",
        str(broker.port),
        "--dir",
        str(tmp_path / "rec"),
        "--session",
        "recorder-1",
        "--fsync",
        fsync,
    ]
    rec = edgepose(*args)  # makes the session, then leaves
    assert "subscribed to" in rec.stderr.readline()
    rec.send_signal(signal.SIGTERM)
    rec.communicate(timeout=60)
    publish_many(broker.port, docs)  # queued by the broker for the session
    rec = edgepose(*args)
    assert "subscribed to" in rec.stderr.readline()
    assert wait_until(lambda: sum(len(v) for v in recorded_frames(tmp_path / "rec", live=True).values()) >= 300, 60)
    os.kill(rec.pid, signal.SIGKILL)
    rec.communicate(timeout=30)
    before = sum(len(v) for v in recorded_frames(tmp_path / "rec").values())
    assert before < len(docs)  # the kill came while documents were being taken
    rec = edgepose(*args)
    assert "subscribed to" in rec.stderr.readline()
    everything = {f"c{c}": set(range(per_camera)) for c in range(cameras)}
    assert wait_until(lambda: recorded_frames(tmp_path / "rec", live=True) == everything, 120), {
        k: len(v) for k, v in recorded_frames(tmp_path / "rec", live=True).items()
    }
    rec.send_signal(signal.SIGTERM)
    _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    assert recorded_frames(tmp_path / "rec") == everything


# -- edgepose watch -----------------------------------------------------------------------------

WATCHED = "edgepose/pi-1"
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"


def watch_pose(**fields: object) -> bytes:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc.update(fields)
    return encode(doc)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("cam0/zones/door", b'{"occupied": true, "count": 1, "track_ids": 5}'),
        ("cam0/zones/door", b'{"occupied": true, "count": "many", "track_ids": [1]}'),
        ("cam0/poses", raw_field("frame", "1e400")),
        ("cam0/poses", raw_field("ts", "NaN")),
        ("cam0/poses", watch_pose(poses=[5])),
        ("cam0/poses", watch_pose(poses=[{"score": 1, "box": [0, 0, 1, 1], "keypoints": 7}])),
        ("cam0/poses", watch_pose(poses=[{"score": 1, "box": [0, 0, 1, 1], "keypoints": ["ab"]}])),  # no kp[2]
        ("cam0/poses", watch_pose(poses=[{"score": 1, "box": [0, 0, 1, 1], "keypoints": [[1, 2]]}])),
        ("cam0/events", b"[" * 100_000),
        ("stats", b'{"camera_fps": NaN}'),
        ("meta", b'{"model": Infinity}'),
    ],
)
def test_watch_counts_a_hostile_message_and_draws_on(topic: str, payload: bytes) -> None:
    from edgepose.tools.watch.state import WatchState, on_message, render, view_lines

    state = on_message(WatchState(WATCHED, "b:1"), f"{WATCHED}/{topic}", payload, 0.0)
    assert state.bad_messages == 1
    text = render(state, 0.0)
    assert "unreadable 1" in text
    view_lines(state, {}, 0.0)


def test_watch_never_writes_control_characters_from_a_document() -> None:
    from edgepose.terminal import CONTROL
    from edgepose.tools.watch.state import WatchState, on_message, render, view_lines

    state = WatchState(WATCHED, "b:1")
    for topic, payload in [
        ("meta", json.dumps({"model": ESCAPES, "accelerator": ESCAPES, "version": ESCAPES}).encode()),
        ("available", ESCAPES.encode()),
        ("count", ESCAPES.encode()),
        ("stats", json.dumps({"camera_fps": 1.0, "dropped": ESCAPES}).encode()),
        (
            "cam0/events",
            json.dumps({k: ESCAPES for k in ("camera", "kind", "zone", "track_id", "count", "ts")}).encode(),
        ),
        ("cam0/zones/door", json.dumps({"occupied": True, "count": 1, "track_ids": [1], "x": ESCAPES}).encode()),
        ("cam0/poses", watch_pose(camera=ESCAPES, model=ESCAPES)),
        (f"cam0/poses{ESCAPES}", b"not json" + ESCAPES.encode()),
    ]:
        state = on_message(state, f"{WATCHED}/{topic}", payload, 0.0)
    text = render(state, 0.0)
    assert ESCAPES.encode("unicode_escape").decode() in text
    assert not CONTROL.search(text.replace("\n", ""))
    _, lines = view_lines(state, {}, 0.0)
    assert lines and not any(CONTROL.search(line) for line in lines)


def test_watch_json_prints_documents_escaped_and_skips_hostile_ones() -> None:
    import io

    from edgepose.tools.watch.client import print_document

    out = io.StringIO()
    assert print_document(out, watch_pose(model=ESCAPES)) is None
    assert "\x1b" not in out.getvalue() and json.loads(out.getvalue())["model"] == ESCAPES
    for payload, cause in [
        (raw_field("ts", "NaN"), "non-finite number"),
        (b"[" * 100_000, "too deep"),
        (b"[1]", "not an object"),
        (b"\xff", "not JSON"),
    ]:
        out = io.StringIO()
        assert print_document(out, payload) == cause
        assert out.getvalue() == ""


# -- edgepose replay ----------------------------------------------------------------------------


def replay_line(**fields: object) -> str:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc.update(fields)
    return json.dumps(doc)


HOSTILE_LINES = {
    "device a+b": (replay_line(device="a+b"), "bad name"),
    "camera a/b": (replay_line(camera="x/../y"), "bad name"),
    "camera 7": (replay_line(camera=7), "bad name"),
    "ts NaN": (replay_line(ts=TS).replace(str(TS), "NaN"), "not JSON"),
    "ts 1e20": (replay_line(ts=1e20), "schema"),
    "ts true": (replay_line(ts=True), "schema"),
    "frame 1e400": (replay_line(frame=0).replace('"frame": 0', '"frame": 1e400'), "not JSON"),
    "100,000 nested [": ("[" * 100_000, "not JSON"),
}


@pytest.mark.parametrize("validate", [False, True])
def test_replay_skips_and_counts_each_hostile_line(tmp_path: Path, validate: bool) -> None:
    from edgepose.client.replay import ReadReport, read_file

    good = replay_line()
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join([good, *(line for line, _ in HOSTILE_LINES.values()), good]) + "\n")
    report = ReadReport()
    got = list(read_file(path, report, schema_validators() if validate else None))
    assert [r.line for r in got] == [1, len(HOSTILE_LINES) + 2]
    expected: dict[str, int] = {}
    for _, cause in HOSTILE_LINES.values():
        expected[cause] = expected.get(cause, 0) + 1
    assert report.total_bad == len(HOSTILE_LINES)
    if not validate:
        assert dict(report.bad) == expected


def test_replay_of_hostile_lines_publishes_the_good_ones_and_goes_on(tmp_path: Path, broker) -> None:
    from tests.mosquitto import Collector

    good = [replay_line(frame=f, ts=TS + f) for f in range(2)]
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join([good[0], *(line for line, _ in HOSTILE_LINES.values()), good[1]]) + "\n")
    collector = Collector(broker, ["#"])
    proc = edgepose("replay", str(path), "--speed", "0", "--host", HOST, "--port", str(broker.port))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "2 document(s) published in" in err and f"{len(HOSTILE_LINES)} bad line(s) skipped" in err
    assert wait_until(lambda: len(collector.messages) == 2, 30)
    collector.close()
    assert [m.topic for m in collector.messages] == [TOPIC, TOPIC]


def test_a_long_pause_in_a_recording_is_slept_in_parts_and_a_stop_cuts_it() -> None:
    from edgepose.client.replay import MAX_SLEEP, Recorded, paced

    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> bool:
        waits.append(s)
        now[0] += s
        return len(waits) == 3  # the third part of the pause is cut short by a stop

    items = [Recorded(Path("f"), i, ts, "pi", "cam0", "poses", b"") for i, ts in enumerate([0.0, 9e9])]
    assert list(paced(items, 1.0, clock=lambda: now[0], sleep=sleep)) == items
    assert waits == [MAX_SLEEP] * 3


@pytest.mark.parametrize("speed", ["nan", "inf", "-1", "-inf"])
def test_replay_refuses_a_speed_that_is_no_pace(tmp_path: Path, speed: str) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_text(replay_line() + "\n")
    proc = edgepose("replay", str(path), f"--speed={speed}", "--sink", "stdout")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 78 and "--speed must be" in err and out == "", err


# -- the pose library and `poses add` -----------------------------------------------------------


def library_entry(**changes: object) -> dict:
    rng = np.random.default_rng(3)
    from edgepose.keypoints import KEYPOINT_NAMES

    points = rng.uniform(-1, 1, (17, 2))
    keypoints = {k: [float(x), float(y), 0.9] for k, (x, y) in zip(KEYPOINT_NAMES, points, strict=True)}
    entry = {
        "schema": "edgepose.pose/1",
        "name": "p",
        "added": "2026-12-01T00:00:00Z",
        "source": {},
        "score": 0.8,
        "keypoints": keypoints,
    }
    entry.update(changes)
    return entry


def test_the_library_names_each_hostile_file_and_loads_the_good_ones(tmp_path: Path) -> None:
    from edgepose.analysis.behaviours.library import PoseLibrary

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "good.json").write_text(json.dumps(library_entry(name="good")))
    os.mkfifo(lib / "fifo.json")  # opening it to read would wait for a writer forever
    (lib / "nested.json").write_text("[" * 100_000)
    (lib / "nan.json").write_text(json.dumps(library_entry(name="nan")).replace("0.9]", "NaN]", 1))
    huge = library_entry(name="huge")
    huge["keypoints"]["nose"] = [1e308, -1e308, 0.9]
    (lib / "huge.json").write_text(json.dumps(huge))
    (lib / "big.json").write_bytes(b" " * (2 << 20))
    (lib / "dir.json").mkdir()
    (lib / "zero.json").symlink_to("/dev/zero")
    loaded = PoseLibrary(lib).load()
    assert loaded.names == ("good",)
    reasons = {p.path.name: p.reason for p in loaded.problems}
    assert set(reasons) == {"fifo.json", "nested.json", "nan.json", "huge.json", "big.json", "dir.json", "zero.json"}
    assert all("not a regular file" in reasons[n] for n in ("fifo.json", "zero.json", "dir.json"))
    assert "too deep" in reasons["nested.json"] and "NaN" in reasons["nan.json"]
    assert "too large to normalize" in reasons["huge.json"] and "larger than" in reasons["big.json"]


@pytest.mark.parametrize(("value", "says"), [("NaN", "not JSON"), ("1e308", "not finite"), ("1e400", "not JSON")])
def test_poses_add_refuses_a_recorded_pose_that_is_no_number(tmp_path: Path, value: str, says: str) -> None:
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    doc["poses"][0]["keypoints"][0][0] = "@@"
    recording = tmp_path / "rec.jsonl"
    recording.write_text(json.dumps(doc).replace('"@@"', value) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgepose",
            "poses",
            "add",
            "x",
            f"{recording}:1",
            "--library",
            str(tmp_path / "lib"),
            "--min-keypoints",
            "0",
            "--min-score",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 66, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "lib" / "x.json").exists()


def test_a_pose_of_huge_values_is_refused_not_stored_as_nan(tmp_path: Path) -> None:
    import datetime

    from edgepose.analysis.behaviours.library import entry_from_pose
    from edgepose.errors import InputError

    keypoints = np.full((17, 3), 0.9)
    keypoints[:, :2] = np.linspace(-1, 1, 34).reshape(17, 2) * 1e308
    with pytest.raises(InputError, match="too large to normalize"):
        entry_from_pose("x", keypoints, {}, datetime.datetime.now(datetime.UTC))


def test_a_batch_of_many_streams_costs_one_fsync_per_file_not_per_document(tmp_path: Path, monkeypatch) -> None:
    """``--fsync always`` under record: each file written to in a batch is synced once at its commit."""
    from edgepose.client import recording

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(recording.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    recorder = Recorder(RecordOptions(tmp_path / "rec", fsync="always"), batched=True)
    streams, per_stream = 20, 10
    for f in range(per_stream):
        for c in range(streams):
            doc = pose_document("pi-1", f"c{c}", f, TS + f, people=1)
            assert recorder.write(Poses("t", "pi-1", f"c{c}", f, TS + f, doc["poses"], doc))
    assert synced == []  # nothing synced before the batch ends
    recorder.commit()
    assert len(synced) == streams  # one per file, for 200 documents
    recorder.commit()
    assert len(synced) == streams  # nothing written since: nothing to sync
    recorder.close()
    unbatched = Recorder(RecordOptions(tmp_path / "one", fsync="always"))
    doc = pose_document("pi-1", "cam0", 0, TS, people=1)
    unbatched.write(Poses("t", "pi-1", "cam0", 0, TS, doc["poses"], doc))
    assert len(synced) == streams + 1  # alone, "always" still syncs each line
    unbatched.close()
