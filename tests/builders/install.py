"""Running scripts/install.sh and reading back the tree it installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.builders.paths import ROOT

SCRIPT = ROOT / "scripts" / "install.sh"


def install(*args: str) -> subprocess.CompletedProcess:
    """Run scripts/install.sh with ``args`` under bash (60 s at most), its output captured."""
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False)


def tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every path under root with its mode and content (or link target)."""
    out: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            out[str(path.relative_to(root))] = (st.st_mode, str(path.readlink()))
        elif path.is_file():
            out[str(path.relative_to(root))] = (st.st_mode, path.read_bytes())
        else:
            out[str(path.relative_to(root))] = (st.st_mode, "")
    return out
