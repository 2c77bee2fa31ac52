#!/usr/bin/env python3
"""Print one line per pose document from every device on a broker, and what went missing.

    python examples/fleet_poses.py --config /etc/edgepose/config.yaml --devices 'pi-*'
    python examples/fleet_poses.py --set mqtt.host=central.example.org --set mqtt.port=8883 \
        --set mqtt.tls.enabled=true

The broker settings (host, port, user, password, TLS) are the daemon's ``mqtt`` section.
"""

from __future__ import annotations

import argparse

from edgepose.client import Availability, FleetClient, Gap, Invalid, Poses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="an edgepose config file (its mqtt section is used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--devices", nargs="+", default=["*"], help="device names or patterns")
    parser.add_argument("--cameras", nargs="+", default=["*"], help="camera names or patterns")
    args = parser.parse_args()
    fleet = FleetClient.from_config(args.config, args.overrides, devices=args.devices, cameras=args.cameras,
                                    kinds=["poses", "available"])  # fmt: skip
    with fleet:
        try:
            for item in fleet:
                if isinstance(item, Poses):
                    scores = ", ".join(f"{p['score']:.2f}" for p in item.poses)
                    print(f"{item.device}/{item.camera} frame {item.frame}: {len(item.poses)} people [{scores}]")
                elif isinstance(item, Gap):
                    print(f"{item.device}/{item.camera}: {item.missing} frame(s) missing after {item.after}")
                elif isinstance(item, Availability):
                    print(f"{item.device} is {'online' if item.online else 'offline'}")
                elif isinstance(item, Invalid):
                    print(f"skipped a message on {item.topic}: {item.reason}")
        except KeyboardInterrupt:
            pass
    for s in fleet.sequence.summaries():
        print(f"{s.device}/{s.camera}: {s.received} received, {s.missing} missing, {s.rate:.1f}/s")


if __name__ == "__main__":
    main()
