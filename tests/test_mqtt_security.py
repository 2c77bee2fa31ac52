"""User name/password and TLS against a real Mosquitto with a password file and a TLS listener.

The certificates are made in the test; the password is read from the environment as a user would
configure it, and must never appear in any log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.config.sections import Config
from edgepose.errors import ConfigError
from edgepose.mqtt.topics import Topics
from edgepose.sinks.mqtt import MqttSink
from edgepose.stats import RunStats
from tests.builders.mqtt import META, frame, wait_connected
from tests.mosquitto import Collector, Mosquitto, TlsFiles, make_certs

USER = "edgepose"
PASSWORD = "correct-Horse-7731"
WRONG = "wrong-Battery-2290"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secure_broker(tmp_path: Path, certs: TlsFiles) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker", users={USER: PASSWORD, "watcher": "watcher-pw"}, tls=certs).start()
    yield broker
    broker.stop()


def secure_config(broker: Mosquitto, ca_file: Path, password: str) -> Config:
    overrides = [
        "device_id=securepi",
        "mqtt.host=127.0.0.1",
        f"mqtt.port={broker.port}",
        f"mqtt.username={USER}",
        "mqtt.password_env=EDGEPOSE_TEST_MQTT_PASSWORD",
        "mqtt.tls.enabled=true",
        f"mqtt.tls.ca_file={ca_file}",
        "mqtt.reconnect_min=0.05",
        "mqtt.reconnect_max=0.2",
        "mqtt.stats_interval=0",
    ]
    return load_config(None, overrides, env={"EDGEPOSE_TEST_MQTT_PASSWORD": password})


def all_log_text(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def wait_failures(sink: MqttSink, n: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while sink.counters()["connect_failures"] < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return sink.counters()["connect_failures"]


def test_good_credentials_over_tls_connect_and_publish(
    secure_broker: Mosquitto, certs: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = secure_config(secure_broker, certs.ca, PASSWORD)
    topics = Topics.from_config(config)
    collector = Collector(secure_broker, [topics.poses], username="watcher", password="watcher-pw")
    sink = MqttSink(config, RunStats())
    sink.open(META)
    wait_connected(sink)
    sink.write(frame(7))
    assert collector.wait_for(lambda c: len(c.on(topics.poses)) == 1)
    assert collector.on(topics.poses)[0].json()["frame"] == 7
    sink.close()
    collector.close()
    assert not any(PASSWORD in line for line in all_log_text(caplog))
    assert any("TLS" in line for line in all_log_text(caplog))


def test_bad_credentials_give_one_clear_line_and_keep_retrying(
    secure_broker: Mosquitto, certs: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = MqttSink(secure_config(secure_broker, certs.ca, WRONG), RunStats())
    sink.open(META)
    assert wait_failures(sink, 3) >= 3  # refused, and retried again and again
    sink.write(frame(0))  # frames keep flowing into the buffer meanwhile
    assert sink.counters()["queue_depth"] == 1 and sink.counters()["connected"] == 0
    trouble = sink.trouble()  # what the daemon's health says (sink mqtt), since a retry alone will not mend it
    assert trouble is not None and "refused the connection: Not authorized" in trouble
    sink.close()
    lines = all_log_text(caplog)
    refusals = [line for line in lines if "refused the connection" in line]
    assert len(refusals) >= 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "refused" in r.getMessage()]
    assert len(warnings) == 1, warnings  # one line per state change, repeats only at debug level
    # Mosquitto answers a wrong password with "not authorized" (3.1.1 code 5, paho's 135)
    assert "reason code 13" in warnings[0] and "retrying" in warnings[0]
    assert not any(WRONG in line or PASSWORD in line for line in lines)
    assert sink.counters()["dropped_shutdown"] == 1  # never connected: the buffered frame is counted


def test_untrusted_certificate_is_reported_as_a_tls_failure(
    secure_broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    other_ca = make_certs(tmp_path / "other").ca  # a CA that did not sign the broker's certificate
    sink = MqttSink(secure_config(secure_broker, other_ca, PASSWORD), RunStats())
    sink.open(META)
    assert wait_failures(sink, 2) >= 2
    assert "TLS certificate verification failed" in (sink.trouble() or "")
    sink.close()
    tls_lines = [line for line in all_log_text(caplog) if "TLS certificate verification failed" in line]
    assert len(tls_lines) == 1, all_log_text(caplog)
    assert "certificate" in tls_lines[0] and "mqtt.tls.ca_file" in tls_lines[0]


def test_a_missing_ca_file_is_a_config_error(secure_broker: Mosquitto, tmp_path: Path) -> None:
    sink = MqttSink(secure_config(secure_broker, tmp_path / "nope.pem", PASSWORD), RunStats())
    with pytest.raises(ConfigError, match=r"mqtt\.tls\.ca_file"):
        sink.open(META)
