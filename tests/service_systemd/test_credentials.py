"""The MQTT password reaches edgepose only as the systemd credential ``mqtt_password`` (LoadCredential=).

The container's Mosquitto refuses anonymous clients, so poses arriving prove the password was used;
it must then be nowhere else: not in the config, the unit, the environment, the command line or
any journal field of any unit.
"""

from __future__ import annotations

import json

from systemd_container import PREFIX, SERVICE_TESTS, UNIT, Broker, Container, Service, message

pytestmark = SERVICE_TESTS

CREDENTIAL = "/etc/edgepose/mqtt_password"


def journal_holds(container: Container, secret: str) -> list[str]:
    """Every journal entry of the boot (all units, every field) that contains ``secret``."""
    return [message(e) for e in container.journal_entries("-b") if secret in json.dumps(e)]


def test_the_credential_authenticates_and_is_in_no_journal_line(container: Container, service: Service, broker: Broker):
    secret = broker.service_password
    assert secret and secret not in container.read("/etc/edgepose/config.yaml")
    with broker.subscribe(f"{PREFIX}/cam0/poses") as sub:
        service.start()
        sub.wait("a pose document (the broker let edgepose in)", lambda m: True, 30)
    pid = service.main_pid()
    # The credential as the service sees it; systemd's copy, readable by its user only.
    assert container.read(f"/run/credentials/{UNIT}/mqtt_password").strip() == secret
    for what in ("environ", "cmdline"):
        assert secret not in container.read(f"/proc/{pid}/{what}")
    assert secret not in container.systemctl("show", UNIT).stdout
    assert secret not in container.systemctl("cat", UNIT).stdout
    assert journal_holds(container, secret) == []


def test_a_wrong_credential_is_refused_and_not_logged(container: Container, service: Service, broker: Broker):
    wrong = "wrong-" + broker.service_password[::-1]
    cursor = container.cursor()
    container.write(CREDENTIAL, wrong + "\n", "0600")
    try:
        service.start(check=False)
        container.wait_journal("refused the connection: Not authorized", 30, "-u", UNIT, after=cursor)
        assert journal_holds(container, wrong) == []
    finally:
        container.write(CREDENTIAL, broker.service_password + "\n", "0600")
