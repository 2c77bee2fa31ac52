"""A reps reset published retained is ignored, counted (``commands_refused``) and logged, as README says.

A retained reset would otherwise reset the counts at every connect. Against a real Mosquitto, on
MQTT 3.1.1 and 5:

- present at connect (the broker hands it over flagged retained): ignored, counted, logged;
- published retained while edgepose is connected: on MQTT 5 edgepose subscribes with
  Retain As Published, so the flag arrives and it is ignored and counted. MQTT 3.1.1 clears the flag
  of every message sent on an established subscription (MQTT-3.3.1-9), so there it cannot be told
  from a plain command and is taken once; it is ignored and counted at every connect after.

A plain command sent after each is the marker that the retained one had its chance to arrive.
"""

from __future__ import annotations

import logging

import pytest

from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.mqtt import META, make_config, wait_connected
from tests.mosquitto import Collector, Mosquitto

REPS = ("analysis.enabled=true", "analysis.behaviours.reps.enabled=true")
PROTOCOLS = ["3.1.1", "5"]


class Resets:
    """The stage's side of the reset commands: what it was asked, in order (counting is on)."""

    def __init__(self) -> None:
        self.tracks: list[int | None] = []

    def __call__(self, track: int | None) -> bool:
        self.tracks.append(track)
        return True


def connect(broker: Mosquitto, protocol: str, resets: Resets) -> MqttSink:
    """A sink with reps on, connected and subscribed; ``resets`` stands for the analysis stage."""
    sink = MqttSink(make_config(broker, *REPS, f"mqtt.protocol='{protocol}'"), RunStats())
    sink.commands.register("cam0", resets)  # before connecting: a retained command arrives right after the SUBACK
    sink.open(META)
    wait_connected(sink)
    return sink


def retained_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "published retained" in r.getMessage()
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_retained_reset_present_at_connect_is_ignored_and_counted(
    broker: Mosquitto, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    topic = Topics.from_config(make_config(broker)).reps_reset
    commander = Collector(broker, [topic])
    # Not b"": an empty retained message deletes the topic's retained message and is not kept itself.
    commander.client.publish(topic, b"1", qos=1, retain=True).wait_for_publish(5)
    resets = Resets()
    sink = connect(broker, protocol, resets)
    commander.client.publish(topic, b"2", qos=1).wait_for_publish(5)  # the marker
    assert commander.wait_for(lambda _: sink.counters()["reps_resets"] == 1)
    counters = sink.counters()
    sink.close()
    commander.close()
    assert resets.tracks == [2]  # the retained reset of track 1 was not taken
    assert counters["commands_refused"] == 1
    (warning,) = retained_warnings(caplog)
    assert topic in warning


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_reset_published_retained_while_connected(
    broker: Mosquitto, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    topic = Topics.from_config(make_config(broker)).reps_reset
    commander = Collector(broker, [topic])
    resets = Resets()
    sink = connect(broker, protocol, resets)
    commander.client.publish(topic, b"3", qos=1, retain=True).wait_for_publish(5)
    commander.client.publish(topic, b"4", qos=1).wait_for_publish(5)  # the marker
    assert commander.wait_for(lambda _: 4 in resets.tracks)
    live = sink.counters()
    sink.close()
    if protocol == "5":  # the flag arrives (Retain As Published): ignored and counted
        assert resets.tracks == [4] and live["commands_refused"] == 1
        assert len(retained_warnings(caplog)) == 1
    else:  # 3.1.1 clears the flag on delivery: taken once, as a plain command
        assert resets.tracks == [3, 4] and live["commands_refused"] == 0
    # The next connection (a restart) gets it from the broker, retained: ignored and counted.
    later = Resets()
    sink = connect(broker, protocol, later)
    commander.client.publish(topic, b"5", qos=1).wait_for_publish(5)
    assert commander.wait_for(lambda _: 5 in later.tracks)
    assert later.tracks == [5] and sink.counters()["commands_refused"] == 1
    sink.close()
    commander.close()
