"""Start-up under systemd: Type=notify readiness after the first frame, poses on the broker, STATUS=."""

from __future__ import annotations

import json
import re

from systemd_container import PREFIX, SERVICE_TESTS, UNIT, Broker, Container, Service

pytestmark = SERVICE_TESTS

STATUS = re.compile(r"^(\d+\.\d) fps, (\d+) (person|people) in view$")


def test_active_only_after_the_first_frame_then_poses_and_fps(
    container: Container, service: Service, broker: Broker, figures: dict[str, float]
):
    cursor = container.cursor()
    with broker.subscribe(f"{PREFIX}/#") as sub:
        # Type=notify: `systemctl start` returns when edgepose sent READY=1, not when it was forked.
        service.start()
        assert container.show("ActiveState", "SubState") == {"ActiveState": "active", "SubState": "running"}
        lines = container.journal("-u", UNIT, after=cursor)
        ready = next(i for i, line in enumerate(lines) if line.startswith("edgepose.service.daemon: ready: "))
        started = next(i for i, line in enumerate(lines) if line.startswith("Started edgepose.service"))
        assert "first frame processed" in lines[ready]
        assert ready < started, lines  # the first frame went through before systemd called it started

        # The first frame was read before the unit became active: frames carry wall-clock times here.
        active_at = service.usec("ActiveEnterTimestampMonotonic")
        first = sub.wait("a pose document", lambda m: m.topic == f"{PREFIX}/cam0/poses", 30)
        document = json.loads(first.payload)
        assert document["device"] == "svc" and document["camera"] == "cam0"
        sub.wait(
            "a document with a person in it",
            lambda m: m.topic.endswith("/poses") and bool(json.loads(m.payload)["poses"]),
            30,
        )
        sub.wait("online", lambda m: m.topic == f"{PREFIX}/available" and m.payload == "online", 10)

        # STATUS= carries the frame rate once a status period has passed (the video plays at 25 fps).
        def fps_status() -> re.Match[str] | None:
            match = STATUS.match(container.prop("StatusText"))
            return match if match and float(match.group(1)) > 0 else None

        match = container.wait_for("fps in StatusText", fps_status, 30)
        assert isinstance(match, re.Match)
        status = container.systemctl("status", UNIT, check=False).stdout
        assert re.search(r'Status: "\d+\.\d fps, \d+ (person|people) in view"', status), status

    start = service.usec("ExecMainStartTimestampMonotonic")
    figures["ready_s"] = (active_at - start) / 1e6
