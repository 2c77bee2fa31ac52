"""``scripts/bench_cold_cut.py``: the cut timed after each kind of wait (docs/pipeline.md, "Cold after the wait")."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.builders.paths import ROOT

SCRIPT = ROOT / "scripts" / "bench_cold_cut.py"


def test_it_times_both_cuts_after_every_wait(walking_video: Path) -> None:
    args = ["--video", str(walking_video), "--calls", "3"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if " after " in line]
    assert len(rows) == 12
    for cut in ("MoveNet crop 192", "BlazePose square 256"):
        waits = [row for row in rows if row.startswith(cut)]
        assert [re.search(r"after (.+?)\s+[\d.]+$", row)[1] for row in waits] == [
            "tight loop",
            "sleep 0.2 ms",
            "sleep 1 ms",
            "sleep 7 ms",
            "busy 7 ms",
            "sleep 7 ms, read source",
        ]
        assert all(float(row.split()[-1]) > 0 for row in waits)
