#!/usr/bin/env python3
"""Keep the number of people each camera of a fleet sees, redrawn once a second.

    python examples/people_count.py --config /etc/edgepose/config.yaml

Two copies started with the same ``--share`` group split the fleet's messages between them (a
shared subscription): each document goes to one of them.
"""

from __future__ import annotations

import argparse
import time

from edgepose.client import FleetClient, Poses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="an edgepose config file (its mqtt section is used)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--share", default="", help="shared subscription group")
    parser.add_argument("--min-score", type=float, default=0.3, help="people below this score are not counted")
    args = parser.parse_args()
    counts: dict[str, int] = {}
    next_print = time.monotonic()
    with FleetClient.from_config(args.config, args.overrides, kinds=["poses"], share=args.share) as fleet:
        while True:
            for item in fleet.documents(timeout=1.0):
                if isinstance(item, Poses):
                    counts[f"{item.device}/{item.camera}"] = sum(p["score"] >= args.min_score for p in item.poses)
                if time.monotonic() >= next_print:
                    break
            print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no pose documents yet", flush=True)
            next_print = time.monotonic() + 1.0


if __name__ == "__main__":
    main()
