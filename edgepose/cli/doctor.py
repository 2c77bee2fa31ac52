"""``edgepose doctor``: a readable report of what works on this machine (``--json`` for machines).

It exits 0 whatever it finds: the report is the result. A bad config is still exit 78.
"""

from __future__ import annotations

import argparse
import json

from edgepose.cli import add_config, add_verbosity, log_level
from edgepose.config import load_config
from edgepose.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check Python, runtime, camera, Edge TPU, groups, broker, models and the host")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--json", action="store_true", help="one JSON document instead of text")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S", help="broker connect timeout (default 1 s)")
    p.set_defaults(func=doctor)


def doctor(args: argparse.Namespace) -> int:
    from edgepose.tools.doctor import render, run_checks, to_json

    config = load_config(args.config, args.overrides)
    setup_logging(log_level(args, "warning"), config.logging.format)
    checks = run_checks(config, connect_timeout=args.timeout)
    print(json.dumps(to_json(checks), indent=2) if args.json else render(checks))
    return 0
