"""The log says why a run stopped: the source's end, --max-frames, --duration or a signal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders.cli import run_cli


def stopping_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "stopping:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


# (extra arguments, the reason the log must give)
REASONS = [
    ((), "stopping: the source ended"),  # one image, then the end
    (("--set", "source.loop=true", "--max-frames", "3"), "stopping: --max-frames 3 reached"),
    (("--set", "source.loop=true", "--duration", "0.5"), "stopping: --duration 0.5 s reached"),
]


@pytest.mark.parametrize(("args", "reason"), REASONS)
def test_the_log_gives_the_real_reason(args: tuple[str, ...], reason: str, squat_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "poses.jsonl"
    proc = run_cli("run", "--source", str(squat_path), "--sink", f"jsonl:{out}", *args)
    assert proc.returncode == 0, proc.stderr
    assert reason in stopping_line(proc.stderr)
