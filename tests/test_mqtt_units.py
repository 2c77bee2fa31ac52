"""The MQTT parts that need no broker: ring buffer, backoff, topics, config checks, HA discovery."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepose.backoff import Backoff
from edgepose.config import load_config
from edgepose.errors import ConfigError
from edgepose.mqtt.buffer import Message, RingBuffer
from edgepose.mqtt.homeassistant import discovery_messages, node_id
from edgepose.mqtt.topics import Topics, check_topic


def msg(i: int, size: int = 10) -> Message:
    return Message("t", str(i).encode().ljust(size, b" "))


def test_ring_buffer_drops_the_oldest_by_count() -> None:
    buf = RingBuffer(max_messages=3, max_bytes=10_000)
    dropped = [buf.push(msg(i)) for i in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert [buf.pop().payload.strip() for _ in range(3)] == [b"2", b"3", b"4"]
    assert buf.pop() is None and buf.dropped == 2 and buf.nbytes == 0


def test_ring_buffer_drops_the_oldest_by_bytes() -> None:
    buf = RingBuffer(max_messages=100, max_bytes=25)
    for i in range(3):
        buf.push(msg(i, size=10))  # the third pushes the total to 30 > 25: message 0 goes
    assert len(buf) == 2 and buf.nbytes == 20 and buf.dropped == 1
    assert buf.push(msg(9, size=26)) == 1  # larger than the whole buffer: it is the one refused
    assert [m.payload.strip() for m in buf.pop_many(5)] == [b"1", b"2"]


def test_push_front_restores_order_and_drops_the_requeued_oldest_first() -> None:
    buf = RingBuffer(max_messages=4, max_bytes=10_000)
    for i in (3, 4, 5):
        buf.push(msg(i))
    assert buf.push_front([msg(0), msg(1), msg(2)]) == 2  # 0 and 1 are the oldest: dropped
    assert [m.payload.strip() for m in buf.pop_many(10)] == [b"2", b"3", b"4", b"5"]


@settings(deadline=None)  # a shared, loaded machine: timing is not what is tested
@given(st.lists(st.integers(1, 50), max_size=200), st.integers(1, 20), st.integers(50, 400))
def test_ring_buffer_keeps_the_newest_suffix_within_limits(sizes: list[int], max_messages: int, max_bytes: int) -> None:
    buf = RingBuffer(max_messages, max_bytes)
    messages = [Message("t", bytes(size)) for size in sizes]
    for m in messages:
        buf.push(m)
    kept = buf.pop_many(len(messages))
    assert len(kept) <= max_messages and sum(len(m.payload) for m in kept) <= max_bytes
    assert kept == messages[len(messages) - len(kept) :]  # the newest, in order
    assert buf.dropped == len(messages) - len(kept)  # everything else counted


@pytest.mark.parametrize(
    ("attempt", "u", "expected"),
    [
        (0, 0.0, 0.5),  # first retry: the minimum
        (0, 0.999, 0.5),  # the jittered value never goes below the minimum
        (3, 0.0, 2.0),  # cap 0.5 * 2**3 = 4, equal jitter: [2, 4)
        (3, 0.5, 3.0),
        (10, 0.0, 15.0),  # cap reached (30): [15, 30)
        (10, 0.999, 29.985),
        (500, 0.999, 29.985),  # no overflow for long outages
    ],
)
def test_backoff_delay_is_capped_exponential_with_jitter(attempt: int, u: float, expected: float) -> None:
    assert Backoff(0.5, 30.0).delay(attempt, jitter=u) == pytest.approx(expected)


@settings(deadline=None)
@given(st.integers(0, 1000), st.floats(0, 1, exclude_max=True), st.floats(0.05, 5), st.floats(5, 120))
def test_backoff_delay_stays_within_limits(attempt: int, u: float, low: float, high: float) -> None:
    assert low <= Backoff(low, high).delay(attempt, jitter=u) <= high


@pytest.mark.parametrize(
    ("topic", "problem"),
    [
        ("a/+/b", "wildcard"),  # wildcards subscribe, they cannot be published to
        ("a/#", "wildcard"),
        ("$SYS/edgepose", "starts with $"),  # the broker's own tree
        ("", "is empty"),
        ("a\x00b", "NUL"),
        ("x" * 65_536, "longer than"),
    ],
)
def test_invalid_topics_are_refused(topic: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)):
        check_topic(topic, "test")


def test_topics_from_config() -> None:
    topics = Topics.from_config(load_config(None, ["device_id=kitchen", "source.camera=door"]))
    assert (topics.available, topics.poses, topics.meta, topics.stats, topics.count) == (
        "edgepose/kitchen/available",
        "edgepose/kitchen/door/poses",
        "edgepose/kitchen/meta",
        "edgepose/kitchen/stats",
        "edgepose/kitchen/count",
    )
    custom = Topics.from_config(load_config(None, ["mqtt.topic_prefix=home/poses/"]))
    assert custom.available == "home/poses/available"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("mqtt.topic_prefix='$SYS/x'", "starts with \\$"),  # rejected when the config loads
        ("mqtt.topic_prefix='a/+/b'", "does not match"),
        ("mqtt.max_payload=300000000", "above the maximum"),
        ("mqtt.buffer_bytes=2000000000", "above the maximum"),
        ("mqtt.buffer_messages=0", "below the minimum"),
        ("mqtt.buffer_bytes=2048", "below mqtt.max_payload"),  # cannot hold one message of the largest size
        ("mqtt.qos_poses=3", "not allowed"),
    ],
)
def test_bad_mqtt_config_is_a_config_error(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_home_assistant_discovery_follows_the_convention() -> None:
    topics = Topics.from_config(load_config(None, ["device_id=living.room"]))
    messages = dict(discovery_messages("homeassistant", "living.room", topics))
    assert set(messages) == {
        "homeassistant/sensor/edgepose_living_room/people/config",
        "homeassistant/sensor/edgepose_living_room/fps/config",
    }
    people = messages["homeassistant/sensor/edgepose_living_room/people/config"]
    fps = messages["homeassistant/sensor/edgepose_living_room/fps/config"]
    assert people["state_topic"] == "edgepose/living.room/count"
    assert fps["state_topic"] == "edgepose/living.room/stats" and "processed_fps" in fps["value_template"]
    for doc in (people, fps):
        assert doc["availability_topic"] == "edgepose/living.room/available"
        assert doc["device"]["identifiers"] == [node_id("living.room")]
    assert people["unique_id"] != fps["unique_id"]
