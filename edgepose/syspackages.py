"""The system's own (apt) Python packages that are bound to NumPy's C ABI, and the NumPy they need.

Raspberry Pi OS ships picamera2 through apt only (it needs libcamera's bindings), and picamera2
imports simplejpeg, a compiled module that apt builds against apt's NumPy (1.24 on Bookworm). The
project's virtual environment is created with ``--system-site-packages`` so that it sees them; if
pip then puts NumPy 2 into the venv (OpenCV >= 4.12 requires it), importing picamera2 fails with
``numpy.dtype size changed`` or ``_ARRAY_API not found``.

The rule, keyed on what is installed and not on the board's name (any Debian with these modules
breaks the same way): where apt's dist-packages hold a module from :data:`NUMPY_BOUND`, the venv
keeps apt's NumPy, through the pip constraint ``numpy==<apt's version>`` that :func:`constraints`
computes at install time. Elsewhere (a bare dev box, CI) there is no constraint and nothing changes.

Standard library only: ``python -m edgepose.syspackages constraints`` runs in the new venv before
edgepose's own dependencies are installed. The directories can be overridden with
``EDGEPOSE_SYSTEM_SITE`` (colon-separated), for tests and for unusual layouts.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# Modules a venv imports from apt that are compiled against apt's NumPy: picamera2 itself is pure
# Python, but it imports simplejpeg; both are named so that either one present triggers the rule.
NUMPY_BOUND = ("picamera2", "simplejpeg")

# What NumPy and Cython print when a module built for one NumPy ABI is imported under another.
ABI_ERROR_MARKERS = (
    "numpy.dtype size changed",
    "binary incompatibility",
    "_ARRAY_API not found",
    "numpy.core.multiarray failed to import",
    "numpy.core._multiarray_umath failed to import",
    "compiled using NumPy 1.x cannot be run in",
    "module compiled against ABI version",
    "module compiled against API version",
)


@dataclass(frozen=True)
class SystemPython:
    """What apt's dist-packages directories hold that matters for the NumPy ABI."""

    dirs: tuple[Path, ...]
    numpy: str | None  # apt's NumPy version, None when apt has none
    bound: tuple[str, ...]  # the NUMPY_BOUND modules found there

    @property
    def needs_pin(self) -> bool:
        return bool(self.bound and self.numpy)


@dataclass(frozen=True)
class Verdict:
    status: str  # ok, info, warn or fail (doctor's statuses)
    detail: str
    hint: str = ""


def system_dirs(base_prefix: str | None = None, version: Sequence[int] | None = None) -> tuple[Path, ...]:
    """apt's dist-packages directories of this interpreter (``/usr/lib/python3/dist-packages`` on Debian)."""
    override = os.environ.get("EDGEPOSE_SYSTEM_SITE")
    if override is not None:
        return tuple(Path(p) for p in override.split(os.pathsep) if p)
    base = Path(base_prefix or sys.base_prefix) / "lib"
    major, minor = (version or sys.version_info)[:2]
    candidates = (base / "python3" / "dist-packages", base / f"python{major}.{minor}" / "dist-packages")
    return tuple(p for p in candidates if p.is_dir())


def _has_module(directory: Path, name: str) -> bool:
    return (directory / name).is_dir() or (directory / f"{name}.py").is_file() or any(directory.glob(f"{name}.*.so"))


_VERSION_RE = re.compile(r"""^\s*(?:__version__|version|full_version)\s*[:=]\s*["']([0-9][^"']*)["']""", re.M)
_JSON_VERSION_RE = re.compile(r""""version"\s*:\s*"([0-9][^"]*)\"""")


def numpy_version_in(directory: Path) -> str | None:
    """The version of the NumPy installed in ``directory``, from its metadata or its version file."""
    if not (directory / "numpy").is_dir():
        return None
    for dist in metadata.distributions(path=[str(directory)]):
        if (dist.metadata["Name"] or "").lower() == "numpy":
            return dist.version
    for name in ("version.py", "_version.py"):
        path = directory / "numpy" / name
        if path.is_file():
            text = path.read_text(errors="replace")
            match = _VERSION_RE.search(text) or _JSON_VERSION_RE.search(text)
            if match:
                return match.group(1)
    return None


def scan(dirs: Sequence[Path] | None = None) -> SystemPython:
    dirs = tuple(system_dirs() if dirs is None else dirs)
    numpy = next((v for v in (numpy_version_in(d) for d in dirs) if v), None)
    bound = tuple(name for name in NUMPY_BOUND if any(_has_module(d, name) for d in dirs))
    return SystemPython(dirs, numpy, bound)


def constraints(system: SystemPython) -> list[str]:
    """pip constraint lines that keep a venv on the NumPy ABI of apt's NumPy-bound modules."""
    return [f"numpy=={system.numpy}"] if system.needs_pin else []


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        parts.append(int(digits.group(0)) if digits else 0)
    return tuple(parts)


def abi_verdict(in_use: str, in_use_path: str, system: SystemPython) -> Verdict:
    """Whether the NumPy this process imports can load apt's NumPy-bound modules.

    A module built against NumPy 1.x runs on the same or a newer 1.x and fails on 2.x; one built
    against 1.24 also fails on an older NumPy. Same version is the only state called ``ok``.
    """
    if not system.bound:
        return Verdict("ok", f"NumPy {in_use}: no system module bound to NumPy's C ABI is visible")
    names = " and ".join(system.bound)
    what = names + (" were" if len(system.bound) > 1 else " was")
    if not system.numpy:
        return Verdict("warn", f"apt's {names} found but not apt's NumPy", "sudo apt install python3-numpy")
    if in_use == system.numpy:
        return Verdict("ok", f"NumPy {in_use} ({in_use_path}): the one apt's {what} built for")
    fix = (
        f"keep the venv on apt's NumPy: recreate it with `make clean venv` (or `sudo scripts/install.sh`), "
        f"which pins numpy=={system.numpy}; or in this venv: pip install 'numpy=={system.numpy}'"
    )
    mine, theirs = _release(in_use), _release(system.numpy)
    if mine[0] != theirs[0] or mine < theirs:
        return Verdict(
            "fail",
            f"NumPy {in_use} ({in_use_path}) is in use, but apt's {what} built for NumPy "
            f"{system.numpy}: importing it fails",
            fix,
        )
    return Verdict(
        "warn",
        f"NumPy {in_use} ({in_use_path}) is in use; apt's {what} built for {system.numpy} "
        "(compatible, but two NumPys are installed)",
        fix,
    )


def is_abi_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it was raised from) is NumPy's or Cython's ABI mismatch error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ImportError | ValueError | RuntimeError | AttributeError):
            text = str(current)
            if any(marker in text for marker in ABI_ERROR_MARKERS):
                return True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def numpy_in_use() -> tuple[str, str]:
    """``(version, directory)`` of the NumPy this interpreter imports, without importing it."""
    from importlib.util import find_spec

    spec = find_spec("numpy")
    if spec is None or not spec.origin:
        return ("none", "not installed")
    directory = Path(spec.origin).parent.parent
    return (numpy_version_in(directory) or "unknown", str(directory))


def main(argv: Sequence[str] | None = None) -> int:
    """``constraints``: print the pip constraints; ``check``: exit 1 unless the ABI verdict is ok or info."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "constraints"
    system = scan()
    if command == "constraints":
        lines = constraints(system)
        print("\n".join(lines) if lines else "# no system module bound to NumPy's ABI: no constraint")
        return 0
    if command == "check":
        version, path = numpy_in_use()
        verdict = abi_verdict(version, path, system)
        print(f"{verdict.status}: {verdict.detail}")
        if verdict.hint and verdict.status in ("warn", "fail"):
            print(f"  -> {verdict.hint}")
        return 0 if verdict.status in ("ok", "info", "warn") else 1
    print(f"usage: python -m edgepose.syspackages [constraints|check] (not {command!r})", file=sys.stderr)
    return 64


if __name__ == "__main__":
    raise SystemExit(main())
