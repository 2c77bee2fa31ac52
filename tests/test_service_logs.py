"""Logging for a service: journald priority prefixes, and repeats rate-limited but counted."""

from __future__ import annotations

import logging

import pytest

from edgepose.logs import ONCE_EACH, RateLimitFilter
from tests.service_kit import spawn


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.WARNING, name: str = "edgepose.x", **extra: object):
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def limiter():
    clock = Clock()
    return RateLimitFilter(interval=10.0, clock=clock), clock


def test_repeats_are_suppressed_then_counted(limiter):
    f, clock = limiter
    assert f.filter(record("frame %d failed: %s", 1, "corrupt"))
    clock.now = 1.0
    assert not f.filter(record("frame %d failed: %s", 2, "corrupt"))  # same template: a repeat
    assert not f.filter(record("frame %d failed: %s", 3, "corrupt"))
    clock.now = 11.0
    later = record("frame %d failed: %s", 4, "corrupt")
    assert f.filter(later)
    assert later.getMessage() == "frame 4 failed: corrupt (2 more like this in the last 11 s)"


@pytest.mark.parametrize(
    ("second", "passes"),
    [
        (record("other %s", "x"), True),  # a different message
        (record("frame %d failed: %s", 2, "x", name="edgepose.y"), True),  # another logger
        (record("frame %d failed: %s", 2, "x", level=logging.ERROR), True),  # another level
        (record("frame %d failed: %s", 2, "x", level=logging.INFO), True),  # below WARNING: never limited
        (record("frame %d failed: %s", 2, "x", **ONCE_EACH), True),  # an answer to a user's action
        (record("frame %d failed: %s", 2, "x"), False),  # the same: suppressed
    ],
)
def test_what_counts_as_a_repeat(limiter, second, passes):
    f, _clock = limiter
    assert f.filter(record("frame %d failed: %s", 1, "x"))
    assert f.filter(second) is passes


def test_under_journald_lines_have_priorities_and_no_timestamps(tmp_path, squat_path):
    proc, stderr = spawn(["--source", str(squat_path), "--max-frames", "2"], tmp_path, {"JOURNAL_STREAM": "8:12345"})
    assert proc.wait(60) == 0
    ours = [line for line in stderr.read_text().splitlines() if "edgepose." in line]
    assert ours and all(line.startswith("<6>edgepose.") for line in ours), ours  # <6>: info


def test_under_journald_the_reason_a_run_failed_is_an_error(tmp_path):
    """``journalctl -p warning`` must show why a start failed: the CLI's last words carry ``<3>``."""
    proc, stderr = spawn(["--source", str(tmp_path / "missing.jpg")], tmp_path, {"JOURNAL_STREAM": "8:12345"})
    assert proc.wait(60) != 0
    last = [line for line in stderr.read_text().splitlines() if line.lstrip("<0123456789>").startswith("edgepose: ")]
    assert last, stderr.read_text()
    assert all(line.startswith("<3>edgepose: ") for line in last), last


def test_on_a_terminal_the_reason_has_no_priority_prefix(tmp_path):
    proc, stderr = spawn(["--source", str(tmp_path / "missing.jpg")], tmp_path, {"JOURNAL_STREAM": ""})
    assert proc.wait(60) != 0
    assert any(line.startswith("edgepose: error: ") for line in stderr.read_text().splitlines())
