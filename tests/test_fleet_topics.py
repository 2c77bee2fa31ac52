"""Fleet topics: ``{device}`` and ``{site}`` in ``mqtt.topic_prefix``, the ``site`` setting, meta's
site and cameras, and edgepose.client finding a placeholder fleet (a real Mosquitto)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgepose.client import FleetClient, Poses
from edgepose.config import load_config
from edgepose.mqtt.topics import Topics
from tests.builders.cli import assert_clean_error, run_cli
from tests.builders.documents import validate_document
from tests.builders.mqtt import frame, open_sink, wait_connected
from tests.fleet_docs import encode, pose_document
from tests.mosquitto import Mosquitto

EX_CONFIG = 78
FLEET = "site/{site}/edgepose/{device}"


def fleet_config(*extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, ["device_id=pi-7", "site=home-3", f"mqtt.topic_prefix={FLEET}", *extra], env={})


def test_placeholders_expand_into_every_topic() -> None:
    topics = Topics.from_config(fleet_config())
    assert topics.prefix == "site/home-3/edgepose/pi-7"
    assert topics.poses == "site/home-3/edgepose/pi-7/cam0/poses"
    assert topics.available == "site/home-3/edgepose/pi-7/available"
    only_device = load_config(None, ["device_id=pi-7", "mqtt.topic_prefix=fleet/{device}/"], env={})
    assert Topics.from_config(only_device).prefix == "fleet/pi-7"
    assert Topics.from_config(load_config(None, ["device_id=pi-7"], env={})).prefix == "edgepose/pi-7"


# (config text, what the error must say: the key path and the problem)
REFUSED = [
    (
        "device_id: pi-7\nmqtt:\n  topic_prefix: 'site/{room}/{device}'\n",
        ":3: mqtt.topic_prefix: unknown placeholder {room}",
    ),
    (
        "device_id: pi-7\nmqtt:\n  topic_prefix: 'site/{site}/{device}'\n",
        ":3: mqtt.topic_prefix: 'site/{site}/{device}' uses {site} but site is empty",
    ),
    (
        "device_id: pi-7\nsite: home\nmqtt:\n  topic_prefix: 'site/{site/{device}'\n",
        ":4: mqtt.topic_prefix: a stray brace",
    ),
    ("device_id: pi-7\nsite: 'home/3'\n", ":2: site: 'home/3'"),
    ("device_id: pi-7\nsite: 'home+'\n", ":2: site: 'home+'"),
]


@pytest.mark.parametrize(("text", "needle"), REFUSED)
def test_bad_placeholders_and_sites_are_refused_at_load(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("check-config", "-c", str(cfg)), EX_CONFIG, f"{cfg}{needle}")


def test_a_site_placeholder_with_a_site_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(f"device_id: pi-7\nsite: home-3\nmqtt:\n  topic_prefix: '{FLEET}'\n")
    proc = run_cli("check-config", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr


def test_meta_says_the_site_and_the_cameras(models_dir: Path) -> None:
    from edgepose.documents.meta import meta_document
    from tests.builders.engines import model_free_loaded

    loaded = model_free_loaded(models_dir / "m.tflite")
    meta = meta_document(fleet_config("source.camera=door"), loaded)
    validate_document(meta, "meta.v1.json")
    assert meta["site"] == "home-3" and meta["cameras"] == ["door"]
    plain = meta_document(load_config(None, ["device_id=pi-7"], env={}), loaded)
    validate_document(plain, "meta.v1.json")
    assert "site" not in plain and plain["cameras"] == ["cam0"]


def test_the_client_finds_a_placeholder_fleet(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        settings = ["mqtt.host=127.0.0.1", f"mqtt.port={broker.port}", "mqtt.stats_interval=0", "mqtt.qos_poses=1"]
        cfg = tmp_path / "fleet.yaml"
        cfg.write_text(f"site: home-3\nmqtt:\n  host: 127.0.0.1\n  port: {broker.port}\n  topic_prefix: '{FLEET}'\n")
        fleet = FleetClient.from_config(cfg, kinds=["poses"]).connect()
        sinks = [open_sink(fleet_config(*settings, f"device_id={d}")) for d in ("pi-7", "pi-8")]
        for sink in sinks:
            wait_connected(sink)
            for i in range(3):
                doc = pose_document(sink.config.device_id, "cam0", i, 1.7e9 + i)
                sink.write(dataclasses.replace(frame(i), document=doc, line=encode(doc).decode()))
        got: list = []
        for item in fleet.documents(timeout=20):
            got.append(item)
            if len([g for g in got if isinstance(g, Poses)]) >= 6:
                break
        for sink in sinks:
            sink.close()
        fleet.close()
    finally:
        broker.stop()
    poses = [g for g in got if isinstance(g, Poses)]
    assert {(p.device, p.topic) for p in poses} == {
        ("pi-7", "site/home-3/edgepose/pi-7/cam0/poses"),
        ("pi-8", "site/home-3/edgepose/pi-8/cam0/poses"),
    }
    assert sorted(p.frame for p in poses) == [0, 0, 1, 1, 2, 2]
