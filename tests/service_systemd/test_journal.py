"""The journal's priorities: ``journalctl -p warning -u edgepose`` shows the problems and only them."""

from __future__ import annotations

from systemd_container import SERVICE_TESTS, UNIT, Container, Service, message

pytestmark = SERVICE_TESTS


def test_warnings_and_errors_carry_their_priority_and_info_does_not(container: Container, service: Service):
    cursor = container.cursor()
    service.start()
    # An error of the daemon's own: a reload with a config that does not load.
    text = container.read("/etc/edgepose/config.yaml").replace("threads: 2", "threads: 0")
    service.write_config(text)
    container.systemctl("reload", UNIT)
    container.wait_journal("reload failed", 20, "-u", UNIT, after=cursor)
    service.stop()

    entries = container.journal_entries("-u", UNIT, after=cursor)
    daemon = [e for e in entries if e.get("_COMM") == "edgepose" or str(e.get("SYSLOG_IDENTIFIER")) == "edgepose"]
    by_text = {str(e["MESSAGE"]): int(str(e["PRIORITY"])) for e in daemon}
    reload_failed = next(m for m in by_text if "reload failed, keeping the current configuration" in m)
    ready = next(m for m in by_text if m.startswith("edgepose.service.daemon: ready: "))
    stopping = next(m for m in by_text if m.startswith("edgepose.service.daemon: stopping: "))
    assert by_text[reload_failed] == 3  # err: the <3> prefix was read as the priority...
    assert not reload_failed.startswith("<")  # ...and taken off the message
    assert by_text[ready] == by_text[stopping] == 6  # info

    warnings = container.journal("-u", UNIT, "-p", "warning", after=cursor)
    assert reload_failed in warnings
    assert ready not in warnings and stopping not in warnings
    # Nothing the daemon logs at info shows up there; systemd's own lines about the unit are info too.
    assert all(by_text.get(line, 4) <= 4 for line in warnings), warnings


def test_the_reason_a_start_failed_is_an_error_in_the_journal(container: Container, service: Service):
    service.configure(decoder={"min_pose_score": 7.0})
    cursor = container.cursor()
    service.start(check=False)
    assert container.prop("ExecMainStatus") == "78"
    entries = container.journal_entries("-u", UNIT, after=cursor)
    reason = next(e for e in entries if "decoder.min_pose_score: 7.0 is above the maximum 1.0" in message(e))
    assert int(str(reason["PRIORITY"])) <= 3, reason
