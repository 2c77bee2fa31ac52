"""Two consumers in one $share group: each message goes to exactly one of them (real Mosquitto)."""

from __future__ import annotations

import threading

from edgepose.client import FleetClient, Poses
from edgepose.config.sections import MqttConfig
from tests.fleet_docs import encode, pose_document
from tests.mosquitto import HOST
from tests.mosquitto_bridge import Publisher, wait_until


def test_two_consumers_of_one_group_receive_disjoint_sets_whose_union_is_everything(broker):
    mqtt = MqttConfig(host=HOST, port=broker.port)
    consumers = [FleetClient(mqtt, kinds=["poses"], share="workers", validate=False).connect() for _ in range(2)]
    outsider = FleetClient(mqtt, kinds=["poses"], validate=False).connect()  # not in the group: gets everything
    got: list[list[tuple[str, int]]] = [[], [], []]
    lock = threading.Lock()

    def drain(index: int, fleet: FleetClient) -> None:
        for item in fleet:
            if isinstance(item, Poses):
                with lock:
                    got[index].append((item.device, item.frame))

    threads = [threading.Thread(target=drain, args=(i, f), daemon=True) for i, f in enumerate([*consumers, outsider])]
    for t in threads:
        t.start()
    sent = [(f"pi-{d}", frame) for frame in range(60) for d in range(3)]
    publisher = Publisher(broker.port, "fleet")
    try:
        for device, frame in sent:
            publisher.publish(
                f"edgepose/{device}/cam0/poses", encode(pose_document(device, "cam0", frame, 1.0 + frame))
            )
        assert wait_until(lambda: len(got[0]) + len(got[1]) >= len(sent) and len(got[2]) >= len(sent), 30)
    finally:
        publisher.close()
        for fleet in [*consumers, outsider]:
            fleet.close()
        for t in threads:
            t.join(10)
    first, second = set(got[0]), set(got[1])
    assert first and second, "the broker gave every message to one member"
    assert not first & second
    assert first | second == set(sent)
    assert len(got[0]) + len(got[1]) == len(sent)  # no message twice
    assert sorted(got[2]) == sorted(sent)
    # Each member sees only part of each device's frames: per-stream gaps mean nothing inside a group.
    assert consumers[0].sequence.streams[("pi-0", "cam0")].missing > 0
