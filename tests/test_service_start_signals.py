"""A SIGHUP while ``edgepose run`` starts is held for the daemon (a reload), never the end of it.

The daemon's own handlers come after seconds of imports and set-up; the CLI holds SIGHUP from its
first line. The children here send themselves SIGHUP at a chosen point of start-up (a step of the
real CLI wrapped to do so), so the test does not depend on timing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgepose.service.early_signals import HeldSignals
from tests.builders.paths import ROOT
from tests.service_kit import spawn, stop_child, wait_until

# A child running the real CLI, with one step wrapped to send SIGHUP to itself the first time it
# runs: argv[1] is "module:function" (the step), the rest the CLI's arguments.
CHILD = """
import importlib, os, signal, sys
signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a service starts, even when the tests run under nohup
from edgepose.cli import main
module, name = sys.argv[1].split(":")
target = importlib.import_module(module)
step = getattr(target, name)
sent = []
def wrapped(*args, **kwargs):
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGHUP)
    return step(*args, **kwargs)
setattr(target, name, wrapped)
sys.exit(main(sys.argv[2:]))
"""


def child(step: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", CHILD, step, *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


# (the start-up step during which SIGHUP arrives): each well before the daemon's handlers exist
STEPS = [
    "edgepose.cli.run:load_config",  # reading the config
    "edgepose.service.daemon:App",  # building the app, after the heavy imports
]


@pytest.mark.parametrize("step", STEPS)
def test_sighup_while_starting_is_a_reload(step: str, squat_path: Path) -> None:
    proc = child(step, "run", "--source", str(squat_path), "--sink", "stdout")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)  # not -SIGHUP: alive to the end
    assert "reloaded the configuration" in proc.stderr
    assert proc.stdout.count("\n") == 1  # the one image's document


def test_sighup_still_ends_other_commands() -> None:
    """Only a daemon takes SIGHUP over: check-config held it while parsing, then lets it act."""
    proc = child("edgepose.cli:build_parser", "check-config")
    assert proc.returncode == -signal.SIGHUP, proc.stderr


def test_sighup_right_when_held_and_then_again_and_again(tmp_path: Path, squat_path: Path) -> None:
    """A real child, signalled from the moment it holds SIGHUP until it runs: every one a reload."""
    args = ["--source", str(squat_path), "--set", "source.loop=true", "--sink", "jsonl:/dev/null"]
    proc, stderr = spawn(args, tmp_path)
    try:
        status = Path(f"/proc/{proc.pid}/status")
        hup = 1 << (signal.SIGHUP - 1)
        wait_until(lambda: proc.poll() is not None or int(_field(status, "SigCgt"), 16) & hup, 60, "SIGHUP held")
        sent = 0
        while proc.poll() is None and "ready:" not in stderr.read_text() and sent < 200:
            proc.send_signal(signal.SIGHUP)
            sent += 1
            time.sleep(0.02)
        assert proc.poll() is None, (proc.returncode, stderr.read_text())
        wait_until(lambda: "reloaded the configuration" in stderr.read_text(), what="a reload")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, stderr.read_text()
    finally:
        stop_child(proc)


def _field(status: Path, name: str) -> str:
    try:
        text = status.read_text()
    except FileNotFoundError:
        return "0"
    return next(line.split()[1] for line in text.splitlines() if line.startswith(name + ":"))


def test_held_signals_are_taken_in_order_then_let_go() -> None:
    held = HeldSignals((signal.SIGUSR1,)).install()
    try:
        signal.raise_signal(signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
        taken: list[int] = []
        held.take(taken.append)
        assert taken == [signal.SIGUSR1, signal.SIGUSR1]
        assert held.pending == []
    finally:
        held.let_go(deliver=False)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
