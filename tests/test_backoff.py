"""The one retry schedule: doubling up to a cap, with optional equal jitter; its users agree with it."""

from __future__ import annotations

import pytest

from edgepose.backoff import Backoff
from edgepose.inference.supervisor import SupervisorPolicy


def test_without_jitter_it_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(0.1, 1.0)
    assert [backoff.delay(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff.delay(10_000) == 1.0  # no overflow for a long outage


def test_the_accelerator_rebuild_schedule_is_the_same_backoff() -> None:
    policy = SupervisorPolicy(backoff=0.5, backoff_max=10.0)
    assert [policy.wait_before(n) for n in (1, 2, 3, 6, 7)] == pytest.approx([0.5, 1.0, 2.0, 10.0, 10.0])


def test_bad_values_raise() -> None:
    for args in ((-1.0, 1.0), (0.1, -1.0), (0.1, 1.0, 0.5)):
        with pytest.raises(ValueError, match="backoff needs"):
            Backoff(*args)
