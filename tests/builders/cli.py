"""Running ``python -m edgepose`` as a user would, stopping the children a test started, and
checking the one clear error line a refusal prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.builders.paths import ROOT


def end_child(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a child process a test started: SIGTERM, then SIGKILL if it has not exited in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 120, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m edgepose`` as a user would, in a child process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edgepose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or ROOT,
        input=stdin,
    )


def assert_clean_error(proc, code: int, *needles: str) -> None:
    """The run exited with ``code``, printing one ``edgepose: error:`` line, no traceback, and every needle."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgepose: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
