"""Signals on a real ``edgepose run`` child: clean stops, live reloads, a broken config kept out."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from edgepose.config import load_config
from edgepose.service.reload import changed_keys, plan_reload
from tests.service_kit import spawn, stop_child, wait_until

SHUTDOWN_S = 2.0


def documents(path: Path) -> list[dict]:
    """Complete lines only: the child may be writing the last one."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def write_config(path: Path, out: Path, min_pose_score: float, threads: int = 2) -> None:
    path.write_text(
        f"sinks: ['jsonl:{out}']\n"
        f"source:\n  loop: true\n"
        f"model:\n  threads: {threads}\n"
        f"decoder:\n  min_pose_score: {min_pose_score}\n"
        f"service:\n  shutdown_timeout: {SHUTDOWN_S}\n"
    )


@pytest.fixture
def child(tmp_path: Path, squat_path: Path):
    """A child running from a config file, looping over the squat image (one person, score 0.75)."""
    config, out = tmp_path / "config.yaml", tmp_path / "poses.jsonl"
    write_config(config, out, min_pose_score=0.1)
    proc, stderr = spawn(["-c", str(config), "--source", str(squat_path)], tmp_path)
    wait_until(lambda: len(documents(out)) >= 5 or proc.poll() is not None, what="the first documents")
    assert proc.poll() is None, stderr.read_text()
    yield proc, stderr, config, out
    stop_child(proc)


def wait_for_log(stderr: Path, text: str, timeout: float = 10.0) -> str:
    wait_until(lambda: text in stderr.read_text(), timeout=timeout, what=repr(text))
    return stderr.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_0_within_the_bound(child, sig):
    proc, stderr, _config, out = child
    sent = time.monotonic()
    proc.send_signal(sig)
    code = proc.wait(SHUTDOWN_S + 5)
    took = time.monotonic() - sent
    log = stderr.read_text()
    assert code == 0, log
    assert took < SHUTDOWN_S + 1.0, f"stopping took {took:.1f} s"
    assert f"stopping: {sig.name} received" in log
    assert "threads still running" not in log and "did not stop" not in log
    docs = documents(out)
    assert len(docs) == len(out.read_text().splitlines()), "the last document was cut off: the frame did not finish"


def test_sighup_with_a_changed_threshold_takes_effect(child):
    proc, stderr, config, out = child
    assert all(d["poses"] for d in documents(out)), "the person should be reported at min_pose_score 0.1"
    write_config(config, out, min_pose_score=0.99, threads=3)
    proc.send_signal(signal.SIGHUP)
    log = wait_for_log(stderr, "reloaded the configuration")
    assert "applied decoder.min_pose_score; needs a restart: model.threads" in log
    reloaded_at = len(documents(out))
    wait_until(lambda: len(documents(out)) >= reloaded_at + 10, what="documents after the reload")
    after = documents(out)[reloaded_at + 1 :]  # the frame in flight during the reload may have either
    assert after and all(d["poses"] == [] for d in after), "min_pose_score 0.99 still reported a pose scoring 0.75"
    assert proc.poll() is None


def test_sighup_with_a_broken_config_keeps_the_old_one(child):
    proc, stderr, config, out = child
    config.write_text("decoder:\n  min_pose_score: [unclosed\n")
    proc.send_signal(signal.SIGHUP)
    log = wait_for_log(stderr, "reload failed")
    assert "reload failed, keeping the current configuration:" in log and "malformed YAML" in log
    config.write_text("decoder:\n  min_pose_score: 7\n")  # well-formed but out of range
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: stderr.read_text().count("reload failed") == 2, what="the second failed reload")
    assert "config.yaml:2: decoder.min_pose_score: 7.0 is above the maximum 1.0" in stderr.read_text()
    before = len(documents(out))
    wait_until(lambda: len(documents(out)) >= before + 10, what="frames after the failed reloads")
    assert all(d["poses"] for d in documents(out)[before:]), "the old threshold (0.1) should still apply"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(SHUTDOWN_S + 5) == 0


def test_sigterm_publishes_offline_over_mqtt(tmp_path, squat_path):
    """The MQTT sink publishes ``offline`` (retained) when the service stops on SIGTERM."""
    # paho is a required dependency: a broken import must fail this test, not skip it
    from tests.mosquitto import HOST, Collector, Mosquitto

    broker = Mosquitto(tmp_path / "broker").start()
    collector = Collector(broker, ["edgepose/svc-test/available"])
    args = [
        "--source",
        str(squat_path),
        "--set",
        "source.loop=true",
        "--sink",
        "mqtt",
        "--set",
        "device_id=svc-test",
        "--set",
        f"mqtt.host={HOST}",
        "--set",
        f"mqtt.port={broker.port}",
    ]
    proc, stderr = spawn(args, tmp_path)
    try:
        topic = "edgepose/svc-test/available"
        assert collector.wait_for(lambda c: any(m.payload == b"online" for m in c.on(topic))), stderr.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, stderr.read_text()
        assert collector.wait_for(lambda c: c.on(topic) and c.on(topic)[-1].payload == b"offline")
    finally:
        stop_child(proc)
        collector.close()
        broker.stop()


# -- the reload plan, as a table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "applied", "restart"),
    [
        (["decoder.min_pose_score=0.5"], ("decoder.min_pose_score",), ()),  # thresholds apply live
        (["logging.level=debug"], ("logging.level",), ()),
        (["tracking.max_age_ms=500"], ("tracking.max_age_ms",), ()),  # the tracking stage is rebuilt
        (["model.threads=1"], (), ("model.threads",)),  # a new interpreter: restart
        (["decoder.numba_cache_dir=/tmp/x"], (), ("decoder.numba_cache_dir",)),  # read at start only
        (["sinks=[stdout, stdout]", "mqtt.port=1884"], (), ("sinks", "mqtt.port")),
        ([], (), ()),  # nothing changed
    ],
)
def test_plan_reload(overrides, applied, restart):
    old = load_config(None, [], env={})
    new = load_config(None, overrides, env={})
    plan = plan_reload(old, new)
    assert (plan.applied, plan.restart) == (applied, restart)
    assert changed_keys(plan.config, new) == restart  # in effect: everything but what waits for a restart


def test_plan_reload_without_a_tracking_stage_defers_tracking():
    old = load_config(None, [], env={})
    plan = plan_reload(old, load_config(None, ["tracking.max_tracks=3"], env={}), can_track=False)
    assert plan.applied == () and plan.restart == ("tracking.max_tracks",)
    assert plan.config == old
