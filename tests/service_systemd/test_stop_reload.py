"""Stop, reload and a bad configuration, as systemd sees them."""

from __future__ import annotations

import json
import time

from systemd_container import PREFIX, SERVICE_TESTS, UNIT, Broker, Container, Service, Subscriber, seconds

pytestmark = SERVICE_TESTS

POSES = f"{PREFIX}/cam0/poses"


def test_stop_ends_it_cleanly_within_the_timeout_and_leaves_offline_retained(
    container: Container, service: Service, broker: Broker, figures: dict[str, float]
):
    with broker.subscribe(f"{PREFIX}/available") as sub:
        service.start()
        sub.wait("online", lambda m: m.payload == "online", 30)
        cursor = container.cursor()
        service.stop()
        sub.wait("offline", lambda m: m.payload == "offline", 10)
    # Ended by itself with 0: not killed after TimeoutStopSec= (that would be Result=timeout, SIGKILL).
    assert container.show("Result", "ExecMainCode", "ExecMainStatus", "ActiveState") == {
        "Result": "success",
        "ExecMainCode": "1",
        "ExecMainStatus": "0",
        "ActiveState": "inactive",
    }
    assert broker.retained(f"{PREFIX}/available") == "offline"
    lines = container.journal("-u", UNIT, after=cursor)
    assert "edgepose.service.daemon: stopping: SIGTERM received" in lines
    assert any(line.startswith("edgepose.service.daemon: done: ") for line in lines), lines
    stop = service.usec("InactiveEnterTimestampMonotonic") - service.usec("ActiveExitTimestampMonotonic")
    figures["stop_s"] = stop / 1e6


def documents_after(sub: Subscriber, since: float, count: int, timeout: float) -> list[dict]:
    """The next ``count`` pose documents that arrived after ``since`` (time.monotonic() here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = [json.loads(m.payload) for m in list(sub.messages) if m.topic == POSES and m.at > since]
        if len(docs) >= count:
            return docs[:count]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} pose documents in {timeout:g} s")


def longest_empty_run(documents: list[dict]) -> int:
    longest = run = 0
    for document in documents:
        run = 0 if document["poses"] else run + 1
        longest = max(longest, run)
    return longest


def pattern(documents: list[dict]) -> str:
    return "".join("1" if d["poses"] else "." for d in documents)


# 3 s of frames without a single pose: the walking crowd never has that with the model's own
# threshold (its longest gap read frame by frame is 8 frames), a threshold of 1.0 always.
EMPTY_RUN = 75


def wait_for_empty_run(sub: Subscriber, since: float, run: int = EMPTY_RUN, timeout: float = 30) -> float:
    """When ``run`` documents in a row had no pose, all after ``since``: the new threshold applies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = [m for m in list(sub.messages) if m.topic == POSES and m.at > since]
        streak = 0
        for m in messages:
            streak = streak + 1 if not json.loads(m.payload)["poses"] else 0
            if streak >= run:
                return m.at
        time.sleep(0.2)
    raise AssertionError(f"no {run} documents in a row without a pose within {timeout:g} s")


def test_reload_applies_a_threshold_and_a_broken_config_keeps_the_running_one(
    container: Container, service: Service, broker: Broker
):
    config = service.configure()
    with broker.subscribe(POSES) as sub:
        service.start()
        pid = service.main_pid()
        before = documents_after(sub, 0.0, 2 * EMPTY_RUN, 30)
        assert longest_empty_run(before) < EMPTY_RUN, pattern(before)  # people found with the model's threshold

        # A threshold no pose reaches: applied live by `systemctl reload` (SIGHUP), same process.
        cursor = container.cursor()
        service.configure(decoder={**config.get("decoder", {}), "min_pose_score": 1.0})
        container.systemctl("reload", UNIT)
        container.wait_journal(
            "reloaded the configuration: applied decoder.min_pose_score", 20, "-u", UNIT, after=cursor
        )
        applied = wait_for_empty_run(sub, 0.0)
        assert service.main_pid() == pid

        # A config that does not load: refused as a whole, with the key and its line; 1.0 stays.
        cursor = container.cursor()
        service.write_config(
            container.read("/etc/edgepose/config.yaml").replace("min_pose_score: 1.0", "min_pose_score: 7.0")
        )
        container.systemctl("reload", UNIT)
        line = container.wait_journal("reload failed, keeping the current configuration", 20, "-u", UNIT, after=cursor)
        assert "/etc/edgepose/config.yaml:" in line and "decoder.min_pose_score: 7.0 is above the maximum 1.0" in line
        refused = time.monotonic()
        after = documents_after(sub, refused, 25, 30)
        assert not any(d["poses"] for d in after)  # still the reloaded threshold, not the default
        assert applied < refused
        assert service.main_pid() == pid
        assert container.show("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"}


def test_a_broken_config_at_start_exits_78_and_is_not_restarted(container: Container, service: Service):
    service.configure(decoder={"min_pose_score": 7.0})
    cursor = container.cursor()
    assert service.start(check=False) != 0
    assert container.show("ActiveState", "Result", "ExecMainStatus") == {
        "ActiveState": "failed",
        "Result": "exit-code",
        "ExecMainStatus": "78",
    }
    # RestartPreventExitStatus=78: twice RestartSec= later, still failed and never restarted.
    time.sleep(2 * seconds(container.prop("RestartUSec")))
    assert container.show("ActiveState", "NRestarts") == {"ActiveState": "failed", "NRestarts": "0"}
    lines = container.journal("-u", UNIT, after=cursor)
    assert sum(line.startswith("Starting edgepose.service") for line in lines) == 1, lines
    assert any("decoder.min_pose_score: 7.0 is above the maximum 1.0" in line for line in lines), lines
