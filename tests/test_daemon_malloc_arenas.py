"""The service unit limits glibc's malloc arenas, and the footprint bench runs its daemon the same way.

Each thread that allocates gets its own arena by default (up to 8 a core); memory freed there is
not reused by the others. The figures of ``edgepose bench --footprint`` must be those of the
installed service, so the bench gives its daemons the unit's setting.
"""

from __future__ import annotations

import sys

import pytest

from edgepose.errors import InputError
from edgepose.tools.bench.footprint import UNIT_ENVIRONMENT, daemon_env, run_once
from tests.builders.paths import ROOT

UNIT = ROOT / "systemd" / "edgepose.service"


def unit_environment() -> dict[str, str]:
    """``Environment=KEY=VALUE`` lines of the unit (one assignment each, as the unit writes them)."""
    found = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            found[key] = value
    return found


def test_the_unit_limits_the_malloc_arenas() -> None:
    assert unit_environment()["MALLOC_ARENA_MAX"] == "2"


def test_the_bench_sets_what_the_unit_sets() -> None:
    unit = unit_environment()
    assert UNIT_ENVIRONMENT and {k: unit[k] for k in UNIT_ENVIRONMENT} == UNIT_ENVIRONMENT
    assert daemon_env({"PATH": "/bin"}) == {"PATH": "/bin", **UNIT_ENVIRONMENT}
    assert daemon_env({"MALLOC_ARENA_MAX": "4"})["MALLOC_ARENA_MAX"] == "4"  # the caller's own value wins


CHILD = "import os, time; os.environ.get('MALLOC_ARENA_MAX') == '2' and print('{}', flush=True); time.sleep(0.2)"


def test_the_measured_daemon_runs_with_the_units_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    sample = run_once([sys.executable, "-c", CHILD], settle=0.0, seconds=0.0, timeout=30)
    assert sample.first_document is not None
    with pytest.raises(InputError, match="exited with 0"):  # without it the child prints nothing
        run_once([sys.executable, "-c", CHILD], settle=0.0, seconds=0.0, timeout=30, env={"PATH": "/bin"})
