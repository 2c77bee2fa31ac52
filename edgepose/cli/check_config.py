"""``edgepose check-config``: validate a config file; exit 0 or 78."""

from __future__ import annotations

import argparse
import json
import sys

from edgepose.cli import add_config, add_verbosity
from edgepose.config import load_config, redacted
from edgepose.config.load import config_warnings
from edgepose.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-config", help="validate a config file (exit 0 or 78)")
    add_config(p)
    add_verbosity(p)
    p.add_argument("--print", action="store_true", help="print the complete effective config (secrets hidden)")
    p.add_argument("--write-default", metavar="PATH", help="write the documented default config to PATH and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.write_default:
        from pathlib import Path

        from edgepose.config.reference import reference_yaml

        try:
            Path(args.write_default).write_text(reference_yaml(), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {args.write_default}: {exc.strerror}") from None
        return 0
    config = load_config(args.config, args.overrides)
    for warning in config_warnings(config):  # valid, but a strict setup may refuse it: said, not refused
        print(f"edgepose: warning: {warning}", file=sys.stderr)
    if args.print:
        print(json.dumps(redacted(config), indent=2, default=list))
    else:
        print(f"{args.config or 'defaults'}: ok")
    return 0
