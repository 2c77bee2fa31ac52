"""``edgepose.client``: subscribe to a fleet of edgepose devices and get typed, checked documents.

    from edgepose.client import FleetClient, Gap, Invalid, Poses

    with FleetClient.from_config("/etc/edgepose/config.yaml", devices=["pi-*"]) as fleet:
        for item in fleet:
            if isinstance(item, Poses):
                print(item.device, item.camera, item.frame, len(item.poses))
            elif isinstance(item, Gap):
                print(f"{item.device}/{item.camera}: {item.missing} frame(s) missing")
            elif isinstance(item, Invalid):
                print("skipped:", item.topic, item.reason)

Connection settings (host, port, protocol, user, password, TLS) are the daemon's ``mqtt`` section,
so a consumer uses the config file the devices use. No paho object reaches the caller.
"""

from edgepose.client.documents import (
    KINDS,
    Availability,
    Document,
    Event,
    Invalid,
    Meta,
    Poses,
    Stats,
    TopicLayout,
    parse_message,
    schema_validators,
)
from edgepose.client.fleet import FleetClient, Item
from edgepose.client.sequence import Gap, SequenceTracker, StreamSummary

__all__ = [
    "KINDS",
    "Availability",
    "Document",
    "Event",
    "FleetClient",
    "Gap",
    "Invalid",
    "Item",
    "Meta",
    "Poses",
    "SequenceTracker",
    "Stats",
    "StreamSummary",
    "TopicLayout",
    "parse_message",
    "schema_validators",
]
