"""The command line's parser and the config sections load without NumPy, Numba, OpenCV, LiteRT or paho.

Every command builds the whole parser first, so what its modules import at the top is paid by
`edgepose --help`, `check-config` and each start of the daemon; on a Pi Zero 2 W NumPy alone is
most of a second. A command imports its heavy parts when it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "numba", "cv2", "ai_edge_litert", "tflite_runtime", "paho", "orjson", "jsonschema")


def loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import edgepose.cli as c; c.build_parser()",  # what every command pays first
        "import edgepose.config",  # the sections every command module names
    ],
)
def test_nothing_heavy_is_imported(code):
    assert loaded_after(code) == []


def test_running_a_command_still_imports_what_it_needs():
    """The probe can see a heavy import: the pose estimator's module brings NumPy."""
    assert "numpy" in loaded_after("import edgepose.estimation.estimator")
