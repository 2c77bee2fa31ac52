"""decoder.numba_cache_dir is honoured: Numba's cache lands there (a service cannot write to site-packages)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgepose.errors import ConfigError
from edgepose.kernels import load_kernels

SCRIPT = """
import sys
from edgepose.kernels import load_kernels, warmup
kernels = load_kernels("numba", sys.argv[1])
import numba
print(kernels.kind, numba.config.CACHE_DIR, round(warmup(kernels), 2))
"""


@pytest.mark.slow  # compiles every kernel from scratch into the empty directory (about 10 s)
def test_cache_goes_to_the_configured_directory(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(cache)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kind, where, _ = proc.stdout.split()
    assert kind == "numba" and Path(where) == cache
    assert list(cache.rglob("*.nbi")), "no Numba index files in the cache directory"


def test_unwritable_cache_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="numba_cache_dir"):
        load_kernels("numba", str(blocker / "cache"))
