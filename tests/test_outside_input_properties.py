"""Properties of every parser of what other programs send: a typed value or a typed refusal, never
another exception, and nothing written half.

The inputs are MQTT documents (and the topics they come on), recorded JSON-lines lines for
``replay``, pose-library files, and the messages ``watch`` draws: any bytes, any JSON (NaN, 1e400,
huge integers, deep nesting, control characters) and valid documents with one field made hostile.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepose import strict_json
from edgepose.analysis.behaviours.library import Entry, PoseLibrary, from_json
from edgepose.client import KINDS, Document, FleetClient, Invalid, Poses, Stats, parse_message, schema_validators
from edgepose.client.documents import MAX_TS, Event, Meta
from edgepose.client.recording import Recorder, RecordOptions
from edgepose.client.replay import ReadReport, read_file
from edgepose.config.sections import MqttConfig
from edgepose.names import is_camera_name, is_device_name
from edgepose.terminal import CONTROL
from edgepose.tools.watch.state import WatchState, on_message, render, view_lines
from tests.fleet_docs import pose_document, stats_document

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALIDATORS = schema_validators()
TS = 1_764_633_600.0

TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["cam0", "pi-1", "a+b", "a/b", "..", ".", "", "\x1b[2J", "é", "x" * 300, "online", "offline"]
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e20, 1e308, -1e308, 2**63, 253_402_300_800.0, True, False]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=20
)


def valid_documents() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(
        [
            pose_document("pi-1", "cam0", 3, TS, people=1),
            pose_document("pi-1", "cam0", 0, TS, people=0),
            stats_document("pi-1", "cam0", TS),
            {
                "schema": "edgepose.events/1",
                "kind": "zone_enter",
                "device": "pi-1",
                "camera": "cam0",
                "ts": TS,
                "frame": 4,
                "track_id": 1,
                "trigger": "x",
                "zone": "door",
            },
        ]
    )


@st.composite
def hostile_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid document with one field, at any depth, replaced by any value."""
    doc = json.loads(json.dumps(draw(valid_documents())))
    node: Any = doc
    for _ in range(draw(st.integers(0, 3))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        children = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
        if not children:
            break
        node = draw(st.sampled_from(children))[1]
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    if keys:
        node[draw(st.sampled_from(keys))] = draw(VALUES)
    return doc


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


PAYLOADS = st.one_of(
    st.binary(max_size=64),
    VALUES.map(encoded),
    hostile_documents().map(encoded),
    valid_documents().map(encoded),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b"NaN", b'{"ts": 1e400}', b"\xff\xfe", b"", b"  ", b"9" * 5000]),
)


# -- strict JSON --------------------------------------------------------------------------------


def finite_and_shallow(value: Any) -> bool:
    return strict_json.non_finite(value) is None and strict_json.too_deep(value) is None


@FAST
@given(PAYLOADS)
def test_strict_json_gives_a_finite_shallow_value_or_a_refusal(payload: bytes) -> None:
    try:
        value = strict_json.loads(payload)
    except strict_json.BadJSONError as exc:
        assert exc.cause in ("not JSON", "non-finite number", "too deep") and str(exc)
        return
    assert finite_and_shallow(value)


# -- MQTT documents -----------------------------------------------------------------------------


def check_typed(doc: Document | Invalid, device: str, camera: str, kind: str) -> None:
    if isinstance(doc, Invalid):
        assert doc.cause and doc.reason and "\n" not in doc.cause
        return
    if isinstance(doc, Poses | Event | Stats | Meta):
        assert is_device_name(doc.device) and doc.device == doc.doc["device"]
        assert is_camera_name(doc.camera) and finite_and_shallow(doc.doc)
    if isinstance(doc, Poses | Event):
        assert doc.camera == camera  # the topic's, whatever the document says
        assert isinstance(doc.frame, int) and 0 <= doc.frame < 2**63
    if isinstance(doc, Poses | Event | Stats):
        assert isinstance(doc.ts, float) and 0 <= doc.ts <= MAX_TS


@FAST
@given(PAYLOADS, st.sampled_from(KINDS), st.booleans())
def test_a_message_is_its_topics_document_or_an_invalid(payload: bytes, kind: str, validate: bool) -> None:
    camera = "cam0" if kind in ("poses", "events") else ""
    topic = f"edgepose/pi-1/{camera + '/' if camera else ''}{kind}"
    doc = parse_message(topic, payload, "pi-1", camera, kind, VALIDATORS if validate else None)
    check_typed(doc, "pi-1", camera, kind)


LEVELS = st.lists(TEXT.filter(lambda t: "/" not in t), min_size=1, max_size=5)


@FAST
@given(LEVELS, PAYLOADS)
def test_any_topic_and_payload_give_items_never_an_exception(levels: list[str], payload: bytes) -> None:
    fleet = FleetClient(MqttConfig(), validate=False)
    for topic in ("/".join(["edgepose", *levels]), "/".join(["edgepose", *levels, "poses"])):
        for item in fleet.handle(topic, payload):
            if isinstance(item, Poses | Event | Stats | Meta | Invalid):
                parsed = fleet.layout.parse(topic)
                assert parsed is not None
                check_typed(item, *parsed)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["poses", "events", "stats"]), PAYLOADS), max_size=8))
def test_what_the_recorder_takes_it_writes_whole_under_its_names(messages: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        recorder = Recorder(RecordOptions(directory, max_bytes=4000, fsync="never"))
        written = 0
        for kind, payload in messages:
            camera = "" if kind == "stats" else "cam0"
            topic = f"edgepose/pi-1/{camera + '/' if camera else ''}{kind}"
            doc = parse_message(topic, payload, "pi-1", camera, kind, None)
            if isinstance(doc, Poses | Event | Stats):
                written += recorder.write(doc, payload)
        recorder.close()
        lines = []
        for path in directory.rglob("*.jsonl"):
            text = path.read_text()
            assert text.endswith("\n")  # nothing half
            device, camera = path.relative_to(directory).parts[:2]
            for line in text.splitlines():
                doc = strict_json.loads(line)
                assert (doc["device"], doc["camera"]) == (device, camera)
                lines.append(line)
        assert len(lines) == written == recorder.written


# -- replay lines -------------------------------------------------------------------------------

LINES = st.one_of(
    hostile_documents().map(json.dumps),
    VALUES.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=40).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
    st.sampled_from(["[" * 5000, "NaN", '{"ts": 1e400}']),
)


@FAST
@given(st.lists(LINES, max_size=6), st.booleans())
def test_a_recorded_line_is_a_document_or_a_counted_bad_line(lines: list[str], validate: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rec.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        report = ReadReport()
        got = list(read_file(path, report, VALIDATORS if validate else None))
    for item in got:
        assert is_device_name(item.device) and is_camera_name(item.camera)
        assert math.isfinite(item.ts) and 0 <= item.ts <= MAX_TS
    assert report.documents == len(got) and report.documents + report.total_bad == report.lines


# -- pose-library entries -----------------------------------------------------------------------


@st.composite
def library_files(draw: st.DrawFn) -> Any:
    from edgepose.keypoints import KEYPOINT_NAMES

    keypoints = {k: [float(i), float(i % 5), 0.9] for i, k in enumerate(KEYPOINT_NAMES)}
    entry = {
        "schema": "edgepose.pose/1",
        "name": "p",
        "added": "2026-12-01T00:00:00Z",
        "source": {},
        "score": 0.5,
        "keypoints": keypoints,
    }
    if draw(st.booleans()):
        return draw(VALUES)
    target = draw(st.sampled_from(["keypoints", "score", "source", "name", "schema", "point", "coordinate"]))
    if target == "point":
        entry["keypoints"][draw(st.sampled_from(KEYPOINT_NAMES))] = draw(VALUES)
    elif target == "coordinate":
        entry["keypoints"]["nose"][draw(st.integers(0, 2))] = draw(NUMBERS)
    else:
        entry[target] = draw(VALUES)
    return entry


@FAST
@given(library_files())
def test_a_library_entry_is_an_entry_or_a_value_error(data: Any) -> None:
    try:
        entry = from_json(data, "p")
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(entry, Entry) and entry.keypoints.shape == (17, 3)
    assert math.isfinite(float(abs(entry.keypoints).sum()))
    assert entry.score is None or 0 <= entry.score <= 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), library_files().map(lambda v: json.dumps(v, allow_nan=True).encode())))
def test_a_library_file_of_any_bytes_is_an_entry_or_a_problem(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.json").write_bytes(content)
        loaded = PoseLibrary(Path(tmp)).load()
    assert len(loaded.entries) + len(loaded.problems) == 1
    assert all(p.reason for p in loaded.problems)


# -- what watch draws ---------------------------------------------------------------------------

WATCH_TOPICS = st.sampled_from(
    ["available", "count", "meta", "stats", "cam0/poses", "cam0/events", "cam0/zones/door", "x\x1b[2J/poses", "other"]
)


@FAST
@given(st.lists(st.tuples(WATCH_TOPICS, PAYLOADS | VALUES.map(encoded)), max_size=6))
def test_watch_folds_any_message_and_draws_no_control_character(messages: list[tuple[str, bytes]]) -> None:
    state = WatchState("edgepose/pi-1", "b:1")
    for topic, payload in messages:
        state = on_message(state, f"edgepose/pi-1/{topic}", payload, 1.0)
    assert state.messages == len(messages)
    text = render(state, 2.0)
    assert not CONTROL.search(text.replace("\n", ""))
    _, lines = view_lines(state, {}, 2.0)
    assert not any(CONTROL.search(line) for line in lines)


# -- MQTT commands ------------------------------------------------------------------------------

COMMAND_TOPICS = st.sampled_from(
    [
        "edgepose/pi-1/cam0/reps/reset",
        "edgepose/pi-1/other/reps/reset",
        "edgepose/pi-1/cam0/reps/reset/x",
        "edgepose/pi-1/reps/reset",
    ]
)
COMMAND_PAYLOADS = st.one_of(
    st.binary(max_size=40),
    st.integers(min_value=-(2**80), max_value=2**80).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"  ", b"3", b"\xd9\xa3", b"1e400", b"NaN", b"9" * 19, b"9" * 18, b"\x1b[2J"]),
)


@FAST
@given(st.lists(st.tuples(COMMAND_TOPICS, COMMAND_PAYLOADS), max_size=5))
def test_a_reps_reset_command_is_done_or_counted_as_refused(commands: list[tuple[str, bytes]]) -> None:
    from edgepose.config import load_config
    from edgepose.sinks.mqtt import MqttSink
    from edgepose.stats import RunStats

    config = load_config(
        None, ["device_id=pi-1", "analysis.enabled=true", "analysis.behaviours.reps.enabled=true"], env={}
    )
    sink = MqttSink(config, RunStats())  # never opened: commands are fed as the transport would
    tracks: list[int | None] = []
    sink.commands.register("cam0", lambda track: tracks.append(track) or True)
    for topic, payload in commands:
        before = sink.reps_resets + sink.commands_refused
        sink._reps_command(topic, payload)
        after = sink.reps_resets + sink.commands_refused
        assert after - before == (topic == "edgepose/pi-1/cam0/reps/reset")  # ours: done or refused, once
    assert len(tracks) == sink.reps_resets
    assert all(t is None or (isinstance(t, int) and 0 <= t < 10**18) for t in tracks)
