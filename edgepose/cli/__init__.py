"""The ``edgepose`` command: subcommands, log level and exit codes.

Expected failures (:class:`~edgepose.errors.EdgeposeError`) print one line and exit with their
sysexits code; anything else is unexpected and exits 1. ``-v`` shows the traceback of either.
A command line that does not parse exits 64 (``EX_USAGE``) after the usage line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import traceback
import typing
from collections.abc import Sequence

from edgepose import __version__
from edgepose.errors import EX_OK, EX_SOFTWARE, EX_USAGE, EdgeposeError
from edgepose.logs import under_journald
from edgepose.redact import redact_text
from edgepose.service.early_signals import HeldSignals

# Each module has ``register(subparsers)``, which adds its subcommand(s) with ``func`` set.
COMMAND_MODULES = (
    "edgepose.cli.run",
    "edgepose.cli.check_config",
    "edgepose.cli.models",
    "edgepose.cli.doctor",
    "edgepose.cli.annotate",
    "edgepose.cli.watch",
    "edgepose.cli.bench",
    "edgepose.cli.eval",
    "edgepose.cli.poses",
    "edgepose.cli.record",
    "edgepose.cli.replay",
)


class Parser(argparse.ArgumentParser):
    """argparse with edgepose's error line and exit code (subcommand parsers are of the same class)."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("edgepose").strip()
        where = f"{command}: " if command else ""
        self.exit(EX_USAGE, f"edgepose: error: {where}{message}\nedgepose: hint: see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="edgepose", description="Pose estimation daemon for the Raspberry Pi.")
    parser.add_argument("--version", action="version", version=f"edgepose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging; -v also shows tracebacks")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less logging")


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help="config file (default: built-in defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config key, e.g. --set model.threads=2 (repeatable)",
    )


# Flags several commands share, and the config key each one stands for (quoted: read as a string).
SHORTCUTS: tuple[tuple[str, str, bool], ...] = (
    ("source", "source.uri", True),
    ("model", "model.name", True),
    ("accelerator", "model.accelerator", False),
    ("threads", "model.threads", False),
)


def shortcut_overrides(args: argparse.Namespace, *first: str) -> list[str]:
    """A command's shortcut flags as ``--set`` overrides, after ``first`` and before explicit ``--set``."""
    out = list(first)
    for attr, key, quoted in SHORTCUTS:
        value = getattr(args, attr, None)
        if value is not None:
            out.append(f"{key}={yaml_quote(value) if quoted else value}")
    sinks = getattr(args, "sink", None)
    if sinks:
        out.append("sinks=[" + ", ".join(yaml_quote(s) for s in sinks) + "]")
    return out + list(getattr(args, "overrides", ()))


def yaml_quote(text: str) -> str:
    """YAML-quote a flag value so paths like 'no' or '1.mp4' stay strings."""
    return "'" + text.replace("'", "''") + "'"


def log_level(args: argparse.Namespace, configured: str = "info") -> str:
    order = ["debug", "info", "warning", "error"]
    index = order.index(configured) - getattr(args, "verbose", 0) + getattr(args, "quiet", 0)
    return order[max(0, min(len(order) - 1, index))]


DAEMON_COMMANDS = ("run",)  # commands that take over SIGHUP (a reload) once they have started


def main(argv: Sequence[str] | None = None) -> int:
    # First, before the slow imports: a SIGHUP while `run` starts is held for the daemon, not fatal.
    held = HeldSignals().install() if threading.current_thread() is threading.main_thread() else None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        daemon = getattr(args, "command", None) in DAEMON_COMMANDS
        if held is not None and not daemon:
            held.let_go()  # any other command ends on SIGHUP, as it always did
        args.held_signals = held if daemon else None
        return _dispatch(args)
    finally:
        if held is not None:
            held.let_go(deliver=False)


def _dispatch(args: argparse.Namespace) -> int:
    verbose = getattr(args, "verbose", 0)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return code
    except BrokenPipeError:
        return stdout_closed()
    except EdgeposeError as exc:
        if verbose:
            say_error(traceback.format_exc().rstrip())
        say_error(f"edgepose: error: {exc.said}")
        if exc.hint:
            say_error(f"edgepose: hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        logging.getLogger("edgepose").debug("unexpected error", exc_info=True)
        if verbose:
            say_error(traceback.format_exc().rstrip())
        say_error(f"edgepose: unexpected error: {type(exc).__name__}: {exc} (run with -v for the traceback)")
        return EX_SOFTWARE


def say_error(text: str) -> None:
    """The CLI's last words on stderr; under journald each line is an error (``<3>``), so
    ``journalctl -p warning`` shows why a start failed. A URL's password never shows (``redact_text``)."""
    prefix = "<3>" if under_journald() else ""
    print("\n".join(prefix + line for line in redact_text(text).splitlines()), file=sys.stderr)


def stdout_closed() -> int:
    """The reader of stdout went away (``edgepose models list | head -3``): end quietly, as Unix tools
    do. Whatever is still buffered goes to the null device, so the exit flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EX_OK
