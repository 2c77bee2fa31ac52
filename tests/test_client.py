"""edgepose.client against a real Mosquitto: typed documents, reported (not raised) invalid ones, gaps."""

from __future__ import annotations

import json

import pytest

from edgepose.client import (
    Availability,
    FleetClient,
    Gap,
    Poses,
    SequenceTracker,
    Stats,
    TopicLayout,
)
from edgepose.config.sections import MqttConfig
from edgepose.errors import ConfigError, UnavailableError
from tests.fleet_docs import encode, pose_document, stats_document
from tests.mosquitto import HOST, Mosquitto, free_port, make_certs
from tests.mosquitto_bridge import Publisher


def collect(fleet: FleetClient, count: int, timeout: float = 20.0) -> list:
    out: list = []
    for item in fleet.documents(timeout=timeout):
        out.append(item)
        if len(out) >= count:
            break
    return out


def test_typed_documents_invalid_ones_reported_and_gaps_detected(broker):
    fleet = FleetClient(MqttConfig(host=HOST, port=broker.port), devices=["pi-*"]).connect()
    pub = Publisher(broker.port, "publisher")
    try:
        pub.publish("edgepose/pi-1/available", b"online")
        pub.publish("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", 0, 100.0)))
        pub.publish("edgepose/pi-1/cam0/poses", b"{not json")  # reported, the stream goes on
        bad = pose_document("pi-1", "cam0", 1, 100.1)
        bad["poses"][0]["score"] = 7  # above the schema's maximum of 1
        pub.publish("edgepose/pi-1/cam0/poses", encode(bad))
        pub.publish("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", 4, 100.3)))  # 1..3 missing
        pub.publish("edgepose/pi-1/stats", encode(stats_document("pi-1", "cam0", 101.0)))
        pub.publish("edgepose/other/cam0/poses", encode(pose_document("other", "cam0", 0, 1.0)))  # not pi-*
        pub.publish("edgepose/pi-2/cam0/poses", encode(pose_document("pi-1", "cam0", 9, 1.0)))  # lies about its device
        items = collect(fleet, 8)
    finally:
        pub.close()
        fleet.close()
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Availability", "Poses", "Invalid", "Invalid", "Gap", "Poses", "Stats", "Invalid"], kinds
    assert items[0] == Availability("edgepose/pi-1/available", "pi-1", True)
    first = items[1]
    assert isinstance(first, Poses) and (first.device, first.camera, first.frame) == ("pi-1", "cam0", 0)
    assert len(first.poses) == 3 and len(first.poses[0]["keypoints"]) == 17
    assert "not JSON" in items[2].reason
    assert "poses.v1.json: poses/0/score" in items[3].reason and "7" in items[3].reason
    # frame 1 was invalid, so it is missing too: the gap runs from 0 to 4
    assert items[4] == Gap("pi-1", "cam0", 0, 4) and items[4].missing == 3
    assert isinstance(items[6], Stats) and items[6].processed_fps == 15.0
    assert "document says device 'pi-1', its topic 'pi-2'" in items[7].reason
    assert fleet.invalid == 3
    summary = fleet.sequence.streams[("pi-1", "cam0")]
    assert (summary.received, summary.missing, summary.gaps) == (2, 3, 1)


def test_exact_names_are_subscribed_exactly_and_shared_groups_prefixed():
    fleet = FleetClient(MqttConfig(), devices=["pi-1"], cameras=["cam0", "cam1"], kinds=["poses", "available"])
    assert fleet.filters() == ["edgepose/pi-1/cam0/poses", "edgepose/pi-1/available", "edgepose/pi-1/cam1/poses"]
    site = FleetClient(MqttConfig(), layout=TopicLayout("site/{site}/edgepose/{device}"), kinds=["stats"], share="g")
    assert site.filters() == ["$share/g/site/+/edgepose/+/stats"]
    assert TopicLayout("site/{site}/edgepose/{device}").parse("site/a/edgepose/pi-3/cam2/poses") == (
        "pi-3",
        "cam2",
        "poses",
    )
    assert TopicLayout().parse("edgepose/pi-3/zones") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ["frames"]}, "unknown document kind"),  # not something edgepose publishes
        ({"share": "a/b"}, "may not hold"),  # a group is one topic level
        ({"clean": False}, "needs a client_id"),  # a kept session must be found again
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FleetClient(MqttConfig(), **kwargs)


def test_a_prefix_without_device_is_refused():
    with pytest.raises(ConfigError, match=r"no \{device\} placeholder"):
        TopicLayout("edgepose/pi-1")


def test_an_unreachable_broker_is_unavailable():
    with pytest.raises(UnavailableError, match="could not subscribe"):
        FleetClient(MqttConfig(host=HOST, port=free_port(), reconnect_min=0.05, reconnect_max=0.1)).connect(timeout=1)


def test_a_wrong_password_is_a_config_error(tmp_path):
    broker = Mosquitto(tmp_path / "auth", users={"viewer": "right"}).start()
    try:
        with pytest.raises(ConfigError, match="refused"):
            FleetClient(MqttConfig(host=HOST, port=broker.port, username="viewer", password="wrong")).connect()
    finally:
        broker.stop()


def test_tls_settings_of_the_config_are_used(tmp_path):
    certs = make_certs(tmp_path / "certs")
    broker = Mosquitto(tmp_path / "tls", tls=certs).start()
    config = tmp_path / "edgepose.yaml"
    config.write_text(
        json.dumps({"mqtt": {"host": HOST, "port": broker.port, "tls": {"enabled": True, "ca_file": str(certs.ca)}}})
    )
    pub = None
    try:
        fleet = FleetClient.from_config(config, kinds=["available"]).connect()
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        pub = paho.Client(CallbackAPIVersion.VERSION2)
        pub.tls_set(ca_certs=str(certs.ca))
        pub.connect(HOST, broker.port)
        pub.loop_start()
        pub.publish("edgepose/pi-9/available", b"offline", qos=1).wait_for_publish(10)
        assert collect(fleet, 1) == [Availability("edgepose/pi-9/available", "pi-9", False)]
        fleet.close()
    finally:
        if pub:
            pub.disconnect()
            pub.loop_stop()
        broker.stop()


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        ([(0, 1.0), (1, 1.1), (2, 1.2), (3, 1.3)], (4, 0, 0, 0, 0)),  # in order: nothing to report
        ([(0, 1.0), (1, 1.1), (5, 1.5), (6, 1.6)], (4, 3, 1, 0, 0)),  # 2..4 missing
        ([(0, 1.0), (1, 1.1), (1, 1.1), (2, 1.2)], (4, 0, 0, 1, 0)),  # frame 1 delivered twice (QoS 1)
        ([(0, 1.0), (1, 1.1), (0, 1.0), (2, 1.2)], (4, 0, 0, 1, 0)),  # an older one redelivered late
        ([(10, 1.0), (11, 1.1), (0, 9.0), (1, 9.1)], (4, 0, 0, 0, 1)),  # the daemon restarted: counter back to 0
    ],
)
def test_sequence_tracker(observed, expected):
    tracker = SequenceTracker()
    for frame, ts in observed:
        tracker.observe("pi", "cam0", frame, ts)
    s = tracker.streams[("pi", "cam0")]
    assert (s.received, s.missing, s.gaps, s.duplicates, s.restarts) == expected


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_a_kept_session_gets_what_was_published_while_away(broker, protocol):
    mqtt = MqttConfig(host=HOST, port=broker.port, protocol=protocol)
    FleetClient(mqtt, kinds=["poses"], client_id="consumer-1", clean=False).connect().close()
    pub = Publisher(broker.port, "publisher")
    for frame in range(3):
        pub.publish("edgepose/pi-1/cam0/poses", encode(pose_document("pi-1", "cam0", frame, 100.0 + frame)))
    pub.close()
    fleet = FleetClient(mqtt, kinds=["poses"], client_id="consumer-1", clean=False).connect()
    try:
        items = collect(fleet, 3)
    finally:
        fleet.close()
    assert [i.frame for i in items] == [0, 1, 2]
