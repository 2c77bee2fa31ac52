"""The automation blueprints in examples/blueprints, loaded into the real Home Assistant (the session
copies them into its config directory) and triggered by edgepose's own states. Their actions publish
on MQTT, where the test reads what ran."""

from __future__ import annotations

import json
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.homeassistant.conftest import ha_problems
from tests.homeassistant.home_assistant import HomeAssistant, wait_for
from tests.homeassistant.test_discovery import daemon_config, start, state, wait_entities
from tests.mosquitto import Collector, Mosquitto

pytestmark = pytest.mark.ha


def said(topic: str, payload: str) -> dict[str, Any]:
    """An action that publishes ``payload`` on ``topic``: how a test sees which branch ran."""
    return {"action": "mqtt.publish", "data": {"topic": topic, "payload": payload}}


def automation(ha: HomeAssistant, ident: str, blueprint: str, inputs: dict[str, Any]) -> str:
    """Creates an automation from ``blueprint`` as the frontend does; its entity id once loaded."""
    body = {"alias": ident, "description": "", "use_blueprint": {"path": f"edgepose/{blueprint}", "input": inputs}}
    ha.request("POST", f"/api/config/automation/config/{ident}", body)
    entity = f"automation.{ident}"
    wait_for(lambda: state(ha, entity) == "on", 30, f"{entity} to load")
    return entity


def test_zone_occupied_blueprint_runs_once_the_zone_has_been_occupied(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    ha, since = home_assistant, len(home_assistant.log_text())
    occupied = "binary_sensor.edgepose_habpzone_cam0_all_occupied"
    collector = Collector(ha_broker, ["test/habpzone"])
    inputs = {"zone": occupied, "occupied_for": 2, "occupied_actions": [said("test/habpzone", "occupied")]}
    entity = automation(ha, "habpzone", "zone_occupied.yaml", inputs)
    start(daemons, tmp_path, daemon_config("habpzone", ha_broker, walking_video, posenet_path, falls=False))
    wait_entities(
        ha,
        daemons,
        "habpzone",
        {
            occupied,
            "sensor.edgepose_habpzone_people_in_view",
            "sensor.edgepose_habpzone_processed_fps",
            "sensor.edgepose_habpzone_cam0_all_people",
        },
    )
    wait_for(lambda: state(ha, occupied) == "on", 120, "the zone to be occupied")
    assert collector.wait_for(lambda c: bool(c.on("test/habpzone")), timeout=60)
    assert [m.payload for m in collector.on("test/habpzone")] == [b"occupied"]
    assert ha.states()[entity]["attributes"]["last_triggered"]
    collector.close()
    assert not ha_problems(ha.log_text()[since:], "habpzone")


def fall_state(device: str, detected: bool) -> bytes:
    """A fall state as edgepose publishes it (``edgepose.fall/1``)."""
    doc = {
        "schema": "edgepose.fall/1",
        "device": device,
        "camera": "cam0",
        "ts": time.time(),
        "frame": 1,
        "detected": detected,
        "track_ids": [7] if detected else [],
    }
    return json.dumps(doc).encode()


def publish(broker: Mosquitto, topic: str, payload: bytes) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def test_fall_alert_blueprint_alerts_and_says_when_they_got_up(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    """The walking video has no fall: the fall state is published as edgepose publishes one, on the
    daemon's own topic, while the daemon runs (it publishes the state only when it changes)."""
    ha, since = home_assistant, len(home_assistant.log_text())
    fall = "binary_sensor.edgepose_habpfall_cam0_fall_detected"
    collector = Collector(ha_broker, ["test/habpfall"])
    inputs = {
        "fall_sensor": fall,
        "alert_actions": [said("test/habpfall", "fall")],
        "still_down_after": 30,
        "still_down_actions": [said("test/habpfall", "still down")],
        "recovered_actions": [said("test/habpfall", "recovered")],
    }
    automation(ha, "habpfall", "fall_alert.yaml", inputs)
    start(daemons, tmp_path, daemon_config("habpfall", ha_broker, walking_video, posenet_path, zones={}))
    # the daemon's own first fall state (nobody down, at its first frame) comes before the test's
    wait_for(lambda: state(ha, fall) == "off", 120, "the daemon's first fall state")
    topic = "edgepose/habpfall/cam0/fall"
    publish(ha_broker, topic, fall_state("habpfall", True))
    assert collector.wait_for(lambda c: [m.payload for m in c.on("test/habpfall")] == [b"fall"], timeout=30)
    assert ha.states()[fall]["attributes"]["track_ids"] == [7]
    publish(ha_broker, topic, fall_state("habpfall", False))
    assert collector.wait_for(lambda c: [m.payload for m in c.on("test/habpfall")] == [b"fall", b"recovered"])
    collector.close()
    assert not ha_problems(ha.log_text()[since:], "habpfall")
