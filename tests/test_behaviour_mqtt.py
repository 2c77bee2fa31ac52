"""The behaviours' MQTT contract against a real Mosquitto: ``fall``, ``recovered`` and ``rep`` events
arrive schema-valid; the Home Assistant "fall detected" sensor is announced (valid, device class
safety, the shared device), its retained state is set by a fall and cleared by the recovery, and
both go once falls are turned off; the reps reset topic resets every count or one track's, and a
bad payload is counted, never raised. The poses are closed-form stick figures
(:mod:`tests.builders.figures`), driven through the real stage, document builder and sink."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

from edgepose.analysis.stage import AnalysisStage, make_analysis
from edgepose.config import Config
from edgepose.documents.poses import Stamp
from edgepose.mqtt.homeassistant import discovery_messages, fall_config_topic, fall_discovery_messages
from edgepose.mqtt.topics import Topics
from edgepose.pose import FrameResult, Pose
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.documents import output_of, validate_document
from tests.builders.figures import FPS, fall_and_get_up, planted, stand
from tests.builders.mqtt import META, make_config, wait_connected
from tests.mosquitto import Collector, Mosquitto

FALLS = ("analysis.enabled=true", "analysis.behaviours.falls.enabled=true", "analysis.behaviours.falls.cooldown=0")
REPS = ("analysis.enabled=true", "analysis.behaviours.reps.enabled=true")
T0 = 1.8e9  # Unix seconds of frame 0


def pose(keypoints: np.ndarray, track: int) -> Pose:
    seen = keypoints[keypoints[:, 2] > 0, :2]
    box = (*seen.min(axis=0), *seen.max(axis=0))
    return Pose(keypoints.astype(np.float32), 0.9, tuple(float(v) for v in box), track)


def squatting(t: float, x: float = 640.0) -> np.ndarray:
    """Stands for 0.5 s, squats (knees at 80 degrees) for 0.5 s, over and over."""
    return planted(x, lean=10.0, thigh=80.0, shin=-100.0) if (t % 1.0) >= 0.5 else stand(t, x)


class Run:
    """What the pipeline does after tracking, frame by frame: analyze, build, encode, hand to the sink."""

    def __init__(self, config: Config, sink: MqttSink) -> None:
        self.stage: AnalysisStage = make_analysis(config, "cam0")  # type: ignore[assignment]
        self.sink = sink
        self.stamp = Stamp("testpi", "test-model", "cpu")
        self.frame = 0
        self.events: list[dict] = []
        self.documents: list[dict] = []

    def step(self, people: dict[int, np.ndarray]) -> dict:
        t = self.frame / FPS
        poses = tuple(pose(kp, track) for track, kp in people.items())
        result = self.stage.apply(FrameResult(self.frame, T0 + t, t, 1280, 720, "cam0", poses))
        self.frame += 1
        output = output_of(result, self.stamp)
        self.sink.write(output)
        self.events.extend(output.events)
        self.documents.append(output.document)
        return output.document

    def play(self, seconds: float, trajectories: dict[int, Callable[[float], np.ndarray]]) -> None:
        start = self.frame
        while (self.frame - start) / FPS < seconds:
            t = (self.frame - start) / FPS
            self.step({track: f(t) for track, f in trajectories.items()})


def connected(config: Config) -> MqttSink:
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    return sink


def test_fall_recovered_and_rep_events_arrive_schema_valid(broker: Mosquitto) -> None:
    config = make_config(broker, *FALLS, "analysis.behaviours.reps.enabled=true")
    topics = Topics.from_config(config)
    collector = Collector(broker, [topics.events])
    sink = connected(config)
    run = Run(config, sink)
    run.play(10.0, {1: fall_and_get_up, 2: lambda t: squatting(t, 300.0)})
    kinds = [(e["kind"], e["track_id"]) for e in run.events]
    assert [k for k in kinds if k[0] in ("fall", "recovered")] == [("fall", 1), ("recovered", 1)]
    reps = [e for e in run.events if e["kind"] == "rep"]
    assert [e["count"] for e in reps] == list(range(1, 10)) and {e["track_id"] for e in reps} == {2}
    assert collector.wait_for(lambda c: len(c.on(topics.events)) == len(run.events))
    got = [m.json() for m in collector.on(topics.events)]
    assert got == run.events  # in order, QoS 1, not retained
    assert not any(m.retain for m in collector.on(topics.events))
    for doc in got:
        validate_document(doc, "events.v1.json")
    last = run.documents[-1]
    validate_document(last)
    by_id = {p["id"]: p for p in last["poses"]}
    assert by_id[2]["reps"] == {"squat": 9} and by_id[1]["reps"] == {"squat": 0}
    sink.close()
    collector.close()
    assert sink.counters()["published_events"] == len(run.events)


def test_home_assistant_fall_sensor_is_set_by_a_fall_cleared_by_recovery_and_removed_when_off(
    broker: Mosquitto,
) -> None:
    jinja2 = pytest.importorskip("jinja2")
    config = make_config(broker, *FALLS, "mqtt.homeassistant.enabled=true")
    topics = Topics.from_config(config)
    entity = fall_config_topic("homeassistant", "testpi", "cam0")
    collector = Collector(broker, ["homeassistant/#", topics.fall])
    sink = connected(config)
    run = Run(config, sink)
    assert collector.wait_for(lambda c: bool(c.on(entity)))
    sensor = collector.on(entity)[-1].json()
    assert sensor == fall_discovery_messages("homeassistant", "testpi", topics)[0][1]
    assert sensor["device_class"] == "safety" and sensor["state_topic"] == topics.fall
    assert sensor["device"] == discovery_messages("homeassistant", "testpi", topics)[0][1]["device"]  # one device
    assert sensor["availability_topic"] == topics.available

    def ha_state(doc: dict) -> str:
        return jinja2.Template(sensor["value_template"]).render(value_json=doc)

    run.play(3.0, {1: fall_and_get_up})  # falls at 2 s: still falling at 3 s (down_for 2 s)
    assert collector.wait_for(lambda c: len(c.on(topics.fall)) >= 1)
    assert ha_state(collector.on(topics.fall)[-1].json()) == "OFF"
    run.play(2.5, {1: lambda t: fall_and_get_up(t + 3.0)})  # the fall event at about 4.8 s
    assert collector.wait_for(lambda c: c.on(topics.fall)[-1].json()["detected"])
    down = collector.on(topics.fall)[-1]
    validate_document(down.json(), "fall.v1.json")
    assert down.json()["track_ids"] == [1] and ha_state(down.json()) == "ON"
    attributes = jinja2.Template(sensor["json_attributes_template"]).render(value_json=down.json())
    assert '"track_ids": [1]' in attributes
    run.play(4.5, {1: lambda t: fall_and_get_up(t + 5.5)})  # up again from 6.8 s, recovered after 1 s upright
    assert [e["kind"] for e in run.events] == ["fall", "recovered"]
    assert collector.wait_for(lambda c: not c.on(topics.fall)[-1].json()["detected"])
    assert ha_state(collector.on(topics.fall)[-1].json()) == "OFF"
    states = [m.json()["detected"] for m in collector.on(topics.fall)]
    assert states == [False, True, False]  # published when it changes, not every frame
    sink.close()
    kept = Collector(broker, [entity, topics.fall])  # both retained: a late Home Assistant knows the present
    assert kept.wait_for(lambda c: bool(c.on(entity)) and bool(c.on(topics.fall)))
    assert all(m.retain for m in kept.messages) and not kept.on(topics.fall)[-1].json()["detected"]
    kept.close()

    # The next run has falls off: the sensor's config and the retained state are removed.
    sink2 = connected(make_config(broker, "analysis.enabled=true", "mqtt.homeassistant.enabled=true"))
    assert collector.wait_for(lambda c: c.on(entity)[-1].payload == b"" and c.on(topics.fall)[-1].payload == b"")
    sink2.close()
    collector.close()
    late = Collector(broker, ["homeassistant/#", topics.fall])
    assert late.wait_for(lambda c: any(m.topic.endswith("/people/config") for m in c.messages))
    assert not {m.topic for m in late.messages} & {entity, topics.fall}
    late.close()


def test_the_reps_reset_topic_resets_every_count_or_one_tracks(broker: Mosquitto) -> None:
    config = make_config(broker, *REPS)
    topics = Topics.from_config(config)
    sink = connected(config)
    run = Run(config, sink)
    sink.commands.register("cam0", run.stage.reset_reps)  # as App.build_lane connects them
    people = {1: lambda t: squatting(t, 300.0), 2: lambda t: squatting(t, 900.0)}
    run.play(3.0, people)

    def counts() -> dict[int, int]:
        return {p["id"]: p["reps"]["squat"] for p in run.documents[-1]["poses"]}

    assert counts() == {1: 2, 2: 2}
    commander = Collector(broker, [topics.reps_reset])  # also publishes the commands

    def command(payload: bytes, retain: bool = False) -> None:
        commander.client.publish(topics.reps_reset, payload, qos=1, retain=retain).wait_for_publish(5)

    command(b"1")  # one track
    assert Collector.wait_for(commander, lambda _: sink.counters()["reps_resets"] == 1)
    run.step({k: f(3.0) for k, f in people.items()})  # both stand up from their third squat
    assert counts() == {1: 0, 2: 3}  # track 1's squat began before its reset: not a repetition
    for bad in (b"everyone", b"-3", "\u0661".encode()):  # not a track id (an Arabic-Indic one included)
        command(bad)
    assert Collector.wait_for(commander, lambda _: sink.counters()["commands_refused"] == 3)
    command(b"")  # every track
    assert Collector.wait_for(commander, lambda _: sink.counters()["reps_resets"] == 2)
    run.step({k: f(3.0) for k, f in people.items()})
    assert counts() == {1: 0, 2: 0}
    run.play(2.0, people)  # squats at 0.5 and 1.5 s, the first one done standing at 1.0 s
    assert counts() == {1: 1, 2: 1}  # counting goes on after a reset
    # A retained command would reset at every connect: it is not taken. The next run (a restart:
    # one client id is one connection at a time, so the first run ends before it) does not take it.
    sink.close()
    command(b"1", retain=True)  # not b"": an empty retained message is no message, it deletes one
    sink2 = connected(config)
    stage2 = make_analysis(config, "cam0")
    sink2.commands.register("cam0", stage2.reset_reps)  # type: ignore[union-attr]
    command(b"2")  # a live one after it, to know the retained one had its chance to arrive
    assert Collector.wait_for(commander, lambda _: sink2.counters()["reps_resets"] == 1)
    assert sink2.counters()["commands_refused"] == 1  # the retained one: ignored and counted (README)
    sink2.close()
    commander.client.publish(topics.reps_reset, b"", qos=1, retain=True).wait_for_publish(5)  # clear it
    commander.close()


def test_the_app_hands_the_sinks_reset_commands_to_the_stage() -> None:
    from edgepose.app import App
    from edgepose.config import load_config

    config = load_config(None, [*REPS, "device_id=testpi"])
    engine = SimpleNamespace(input=None)
    estimator = SimpleNamespace(engine=engine)
    estimator.sibling = lambda decoder, stats: estimator  # each camera's estimator on the one engine
    loaded = SimpleNamespace(model_name="m", accelerator="cpu", estimator=estimator)
    source = SimpleNamespace(continuous=True, live=False)
    app = App(config, loaded=loaded, sources={"cam0": source})  # type: ignore[arg-type]
    app.start_pipeline()
    stage = app.pipeline.lanes[0].analysis  # type: ignore[union-attr]
    assert app.commands.reset_reps("cam0", 5) is True  # counting is on: queued for the stage's next frame
    assert list(stage.behaviours._resets) == [5]  # type: ignore[union-attr]
    assert app.commands.reset_reps("garden", 5) is None  # no such camera: nowhere to go


def test_a_failing_behaviour_is_counted_in_the_stats_document_and_metrics() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from edgepose.config import load_config
    from edgepose.documents.stats import stats_document
    from edgepose.service.health_http import Probe, render_metrics

    config = load_config(None, [*FALLS, "device_id=testpi"])
    stats = RunStats()
    stage = make_analysis(config, "cam0", stats=stats)
    assert stage is not None and stage.behaviours is not None

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a broken behaviour")

    stage.behaviours.behaviours.step_arrays = broken  # type: ignore[method-assign]
    kp = stand(0.0)
    for i in range(3):
        out = stage.apply(FrameResult(i, T0 + i, float(i), 1280, 720, "cam0", (pose(kp, 1),)))
        assert out.analysis is not None and out.analysis.events == ()  # the frame goes on without it
    assert stage.failures == 3 and stage.failed_parts["behaviours"] == 3
    doc = stats_document(config, stats, 10.0, T0, {}, {"connected": 0})
    assert doc["analysis_failures"] == 3
    text = render_metrics(Probe("running", True, (), stats.snapshot(10.0), ()))
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values["edgepose_analysis_failures_total"] == 3
