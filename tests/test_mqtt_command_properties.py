"""Arbitrary reps reset commands through a real Mosquitto: each one is taken or refused, never raised.

Whatever bytes arrive on ``<prefix>/<camera>/reps/reset`` (any UTF-8 or not, any length up to a
few hundred bytes, published retained or not), exactly one of ``reps_resets`` and
``commands_refused`` grows for a configured camera, the stage is asked for exactly the tracks the
README's rule names (empty or whitespace: every track; an ASCII track id: that one), and the
connection stays up. A command for a camera that is not configured is neither (another daemon's).
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.mqtt import META, make_config, wait_connected
from tests.mosquitto import Collector, Mosquitto

REPS = ("analysis.enabled=true", "analysis.behaviours.reps.enabled=true")
MARKER = b"987654321"

payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=40).map(str.encode),
    st.integers(0, 10**20).map(lambda n: str(n).encode()),  # track ids, and ids too long to be one
    st.sampled_from([b"", b" ", b"\t7\n", b"-3", b"+3", b"3.0", "\u0661".encode(), b"\xff\xfe", b"0x1f"]),
)
commands = st.tuples(
    payloads.filter(lambda p: p.strip() != MARKER), st.booleans(), st.booleans()
)  # (payload, retained, configured camera)


def expected_track(payload: bytes) -> tuple[bool, int | None]:
    """(taken, track) by README's rule; a refused command has no track."""
    text = payload.decode("utf-8", "replace").strip()
    if not text:
        return True, None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return True, int(text)
    return False, None


class Resets:
    def __init__(self) -> None:
        self.tracks: list[int | None] = []
        self.lock = threading.Lock()

    def __call__(self, track: int | None) -> bool:
        with self.lock:
            self.tracks.append(track)
        return True


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_any_command_is_taken_or_refused(broker: Mosquitto, protocol: str) -> None:
    config = make_config(broker, *REPS, f"mqtt.protocol='{protocol}'")
    topics = Topics.from_config(config)
    other = topics.reps_reset.replace("/cam0/", "/elsewhere/")
    assert other != topics.reps_reset
    resets = Resets()
    sink = MqttSink(config, RunStats())
    sink.commands.register("cam0", resets)
    sink.open(META)
    wait_connected(sink)
    commander = Collector(broker, [topics.reps_reset])

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(commands, min_size=1, max_size=6))
    def check(batch: list[tuple[bytes, bool, bool]]) -> None:
        before = sink.counters()
        with resets.lock:
            asked = len(resets.tracks)
        want_taken, want_refused, want_tracks = 0, 0, []
        for payload, retained, configured in batch:
            # A retained empty payload deletes; one kept would come back at the next test: plain only.
            retain = retained and payload != b""
            topic = topics.reps_reset if configured else other
            commander.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
            if retain:  # clear it at once: retained commands are another test's subject
                commander.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
            if not configured:
                continue
            taken, track = expected_track(payload)
            if retain and protocol == "5":  # the flag arrives: refused; the clearing one too
                want_refused += 2
            elif retain:  # 3.1.1 delivers it as a plain command, then the clearing empty one
                want_taken += 1 if taken else 0
                want_refused += 0 if taken else 1
                want_tracks += [track] if taken else []
                want_taken += 1
                want_tracks.append(None)
            else:
                want_taken += 1 if taken else 0
                want_refused += 0 if taken else 1
                want_tracks += [track] if taken else []

        # The marker: commands are delivered in order, so when it is taken every one before it was handled.
        commander.client.publish(topics.reps_reset, MARKER, qos=1).wait_for_publish(5)
        assert commander.wait_for(lambda _: len(resets.tracks) > asked and resets.tracks[-1] == int(MARKER))
        now = sink.counters()
        assert now["reps_resets"] - before["reps_resets"] == want_taken + 1
        assert now["commands_refused"] - before["commands_refused"] == want_refused
        with resets.lock:
            assert resets.tracks[asked:] == [*want_tracks, int(MARKER)]
        assert sink.listening

    try:
        check()
    finally:
        sink.close()
        commander.close()
