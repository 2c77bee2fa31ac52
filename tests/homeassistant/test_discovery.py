"""edgepose's MQTT discovery as a real Home Assistant sees it: the daemon on the shared walking video,
a real Mosquitto, and Home Assistant's own entity and device registries, states and log.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.homeassistant.conftest import Daemon, ha_problems
from tests.homeassistant.home_assistant import HomeAssistant, wait_for
from tests.mosquitto import Mosquitto

pytestmark = pytest.mark.ha

EVERYWHERE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
LEFT = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]


def daemon_config(
    device: str,
    broker: Mosquitto,
    video: Path,
    model: Path,
    *,
    zones: dict[str, list] | None = None,
    falls: bool = True,
    cameras: list[str] | None = None,
    stats: float = 1.0,
) -> dict[str, Any]:
    """The daemon on the looping walking video with discovery on; ``cameras``: each a camera of that video."""
    zone_list = [{"name": n, "polygon": p} for n, p in (zones if zones is not None else {"all": EVERYWHERE}).items()]
    config: dict[str, Any] = {
        "device_id": device,
        "sinks": ["mqtt"],
        "source": {"uri": str(video), "loop": True},
        "model": {"name": str(model), "threads": 1},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "stats_interval": stats, "homeassistant": {"enabled": True}},
        "analysis": {"enabled": True, "zones": zone_list, "behaviours": {"falls": {"enabled": falls}}},
    }
    if cameras:  # each names its source; the top level keeps what they share
        config["source"] = {"loop": True}
        config["cameras"] = {name: {"source": {"uri": str(video)}} for name in cameras}
    return config


def start(daemons: list[Daemon], tmp_path: Path, config: dict[str, Any]) -> Daemon:
    d = Daemon(tmp_path, config).start()
    daemons.append(d)
    return d


def device_entities(ha: HomeAssistant, device: str) -> dict[str, dict[str, Any]]:
    """entity_id -> registry entry of the MQTT entities on edgepose's device ``device``."""
    node = f"edgepose_{device}"
    return {k: v for k, v in ha.entities_of().items() if v.get("unique_id", "").startswith(node + "_")}


def wait_entities(
    ha: HomeAssistant, daemons: list[Daemon], device: str, expected: set[str], timeout: float = 120
) -> dict[str, Any]:
    """Until Home Assistant has exactly ``expected`` on the device (fails at once if a daemon exited)."""

    def exact() -> dict[str, Any] | None:
        for d in daemons:
            d.check()
        entities = device_entities(ha, device)
        return entities if set(entities) == expected else None

    try:
        return wait_for(exact, timeout, f"exactly {sorted(expected)}", interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{e}; Home Assistant has {sorted(device_entities(ha, device))}") from None


def state(ha: HomeAssistant, entity_id: str) -> str:
    return ha.states().get(entity_id, {}).get("state", "")


def assert_quiet_log(ha: HomeAssistant, device: str, since: int) -> None:
    problems = ha_problems(ha.log_text()[since:], device)
    assert not problems, "Home Assistant logged about edgepose:\n" + "\n".join(problems)


def test_entities_their_ids_names_device_units_and_classes(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    ha, since = home_assistant, len(home_assistant.log_text())
    start(daemons, tmp_path, daemon_config("hadisc", ha_broker, walking_video, posenet_path))
    people, fps = "sensor.edgepose_hadisc_people_in_view", "sensor.edgepose_hadisc_processed_fps"
    occupied, count = "binary_sensor.edgepose_hadisc_cam0_all_occupied", "sensor.edgepose_hadisc_cam0_all_people"
    fall = "binary_sensor.edgepose_hadisc_cam0_fall_detected"
    entities = wait_entities(ha, daemons, "hadisc", {people, fps, occupied, count, fall})
    assert entities[fps]["entity_category"] == "diagnostic"
    assert all(entities[e]["entity_category"] is None for e in (people, occupied, count, fall))
    assert entities[occupied]["unique_id"] == "edgepose_hadisc_zone_cam0_all_occupied"
    # One device, named after the daemon, with the health page as its configuration url when served
    devices = {d["id"]: d for d in ha.registry("device")}
    (device_id,) = {e["device_id"] for e in entities.values()}
    device = devices[device_id]
    assert device["name"] == "edgepose hadisc" and device["manufacturer"] == "edgepose"
    assert ["mqtt", "edgepose_hadisc"] in device["identifiers"]
    # Live states through Home Assistant: numbers, on/off, the fps unit and the classes
    wait_for(lambda: state(ha, people).isdigit() and state(ha, count).isdigit(), 120, "numeric people counts")
    wait_for(lambda: state(ha, fps) not in ("", "unknown", "unavailable"), 60, "the fps sensor's first value")
    states = ha.states()
    assert float(states[fps]["state"]) > 0
    assert states[fps]["attributes"]["unit_of_measurement"] == "fps"
    assert states[people]["attributes"]["state_class"] == "measurement"
    assert states[occupied]["attributes"]["device_class"] == "occupancy"
    assert states[occupied]["state"] in ("on", "off")
    # nobody fell yet: no fall state so far (unknown), but available
    assert states[fall]["attributes"]["device_class"] == "safety" and states[fall]["state"] in ("on", "off", "unknown")
    assert states[people]["attributes"]["friendly_name"] == "edgepose hadisc people in view"
    assert states[occupied]["attributes"]["friendly_name"] == "edgepose hadisc cam0 all occupied"
    assert_quiet_log(ha, "hadisc", since)


def test_no_fps_sensor_without_stats(home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path) -> None:
    ha = home_assistant
    start(
        daemons,
        tmp_path,
        daemon_config("hanostats", ha_broker, walking_video, posenet_path, zones={}, falls=False, stats=0),
    )
    entities = wait_entities(ha, daemons, "hanostats", {"sensor.edgepose_hanostats_people_in_view"})
    assert "sensor.edgepose_hanostats_processed_fps" not in entities


def test_availability_follows_a_sigkill_and_the_restart(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    ha, since = home_assistant, len(home_assistant.log_text())
    d = start(daemons, tmp_path, daemon_config("hakill", ha_broker, walking_video, posenet_path, falls=False))
    people, occupied = "sensor.edgepose_hakill_people_in_view", "binary_sensor.edgepose_hakill_cam0_all_occupied"
    wait_entities(
        ha,
        daemons,
        "hakill",
        {people, occupied, "sensor.edgepose_hakill_processed_fps", "sensor.edgepose_hakill_cam0_all_people"},
    )
    wait_for(lambda: state(ha, people).isdigit(), 120, "a people count")
    d.kill()
    wait_for(lambda: state(ha, people) == state(ha, occupied) == "unavailable", 30, "unavailable after SIGKILL")
    d.start()
    wait_for(lambda: state(ha, people).isdigit() and state(ha, occupied) in ("on", "off"), 120, "available again")
    assert_quiet_log(ha, "hakill", since)


def test_removals_at_start_leave_no_entity_and_no_log(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    """A zone removed and falls turned off between two runs: their entities go, quietly (configs are
    emptied before the states they read)."""
    ha, since = home_assistant, len(home_assistant.log_text())
    config = daemon_config("hastart", ha_broker, walking_video, posenet_path, zones={"all": EVERYWHERE, "left": LEFT})
    d = start(daemons, tmp_path, config)
    base = {
        "sensor.edgepose_hastart_people_in_view",
        "sensor.edgepose_hastart_processed_fps",
        "binary_sensor.edgepose_hastart_cam0_all_occupied",
        "sensor.edgepose_hastart_cam0_all_people",
    }
    left = {"binary_sensor.edgepose_hastart_cam0_left_occupied", "sensor.edgepose_hastart_cam0_left_people"}
    fall = {"binary_sensor.edgepose_hastart_cam0_fall_detected"}
    wait_entities(ha, daemons, "hastart", base | left | fall)
    wait_for(lambda: state(ha, "sensor.edgepose_hastart_cam0_left_people").isdigit(), 120, "the left zone's count")
    d.stop()
    config["analysis"]["zones"] = [{"name": "all", "polygon": EVERYWHERE}]
    config["analysis"]["behaviours"]["falls"]["enabled"] = False
    d.start()
    wait_entities(ha, daemons, "hastart", base)
    wait_for(lambda: state(ha, "sensor.edgepose_hastart_cam0_all_people").isdigit(), 120, "the all zone's count")
    time.sleep(2)  # what Home Assistant would log about the emptied states comes at once
    assert_quiet_log(ha, "hastart", since)


def test_removals_at_reload(home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path) -> None:
    ha, since = home_assistant, len(home_assistant.log_text())
    config = daemon_config("hareload", ha_broker, walking_video, posenet_path, zones={"all": EVERYWHERE, "left": LEFT})
    d = start(daemons, tmp_path, config)
    base = {
        "sensor.edgepose_hareload_people_in_view",
        "sensor.edgepose_hareload_processed_fps",
        "binary_sensor.edgepose_hareload_cam0_all_occupied",
        "sensor.edgepose_hareload_cam0_all_people",
        "binary_sensor.edgepose_hareload_cam0_fall_detected",
    }
    left = {"binary_sensor.edgepose_hareload_cam0_left_occupied", "sensor.edgepose_hareload_cam0_left_people"}
    wait_entities(ha, daemons, "hareload", base | left)
    wait_for(lambda: state(ha, "sensor.edgepose_hareload_cam0_left_people").isdigit(), 120, "the left zone's count")
    config["analysis"]["zones"] = [{"name": "all", "polygon": EVERYWHERE}]
    d.reload()
    wait_entities(ha, daemons, "hareload", base, timeout=60)
    time.sleep(2)
    assert_quiet_log(ha, "hareload", since)


def test_two_cameras_with_same_named_zones_get_distinct_stable_entities(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    ha, since = home_assistant, len(home_assistant.log_text())
    config = daemon_config("hatwo", ha_broker, walking_video, posenet_path, falls=False, cameras=["front", "back"])
    d = start(daemons, tmp_path, config)
    per_camera = {
        f"{kind}.edgepose_hatwo_{cam}_{what}"
        for cam in ("front", "back")
        for kind, what in (("binary_sensor", "all_occupied"), ("sensor", "all_people"), ("sensor", "people_in_view"))
    }
    device = {"sensor.edgepose_hatwo_people_in_view", "sensor.edgepose_hatwo_processed_fps"}
    entities = wait_entities(ha, daemons, "hatwo", device | per_camera)
    ids = {e: v["unique_id"] for e, v in entities.items()}
    wait_for(lambda: state(ha, "sensor.edgepose_hatwo_back_all_people").isdigit(), 120, "the back camera's zone")
    # Restarted with the back camera only, then both again: every entity keeps its id
    d.stop()
    config["cameras"] = {"back": config["cameras"]["back"]}
    d.start()
    # one camera: its own people sensor goes (the device's is its count); its zone's entities stay
    wait_for(
        lambda: "sensor.edgepose_hatwo_back_people_in_view" not in device_entities(ha, "hatwo"),
        60,
        "the back camera's own people sensor to go",
    )
    assert {e for e in per_camera if "_back_all_" in e} <= set(device_entities(ha, "hatwo"))
    d.stop()
    config["cameras"] = {"front": {"source": {"uri": str(walking_video)}}, "back": config["cameras"]["back"]}
    d.start()
    again = wait_entities(ha, daemons, "hatwo", device | per_camera)
    assert {e: v["unique_id"] for e, v in again.items()} == ids
    assert_quiet_log(ha, "hatwo", since)


def test_people_and_zone_states_change_at_most_once_a_second(
    home_assistant, ha_broker, walking_video, posenet_path, daemons, tmp_path
) -> None:
    """The walking video's count flickers frame to frame; Home Assistant's recorder would store each
    change. Counted where Home Assistant reads them, while the poses stay per frame."""
    start(daemons, tmp_path, daemon_config("harate", ha_broker, walking_video, posenet_path, falls=False))
    arrivals: dict[str, list[float]] = {}
    lock = threading.Lock()

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        if not msg.retain:
            with lock:
                arrivals.setdefault(msg.topic.rsplit("/", 1)[-1], []).append(time.monotonic())

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect("127.0.0.1", ha_broker.port)
    client.subscribe(
        [("edgepose/harate/count", 1), ("edgepose/harate/cam0/zones/all", 1), ("edgepose/harate/cam0/poses", 0)]
    )
    client.loop_start()
    try:
        wait_for(lambda: len(arrivals.get("poses", [])) > 100, 180, "100 pose documents")
    finally:
        client.loop_stop()
        client.disconnect()
    with lock:
        poses, counts, zone = arrivals["poses"], arrivals.get("count", []), arrivals.get("all", [])
    seconds = poses[-1] - poses[0]
    for name, times in (("count", counts), ("zone all", zone)):
        # at most one change a second (broker delivery may bunch two by a few milliseconds)
        assert len(times) <= seconds + 2, f"{name}: {len(times)} changes in {seconds:.1f} s"
