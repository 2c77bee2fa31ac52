"""Which platform this is, and whether edgepose supports it (the README's table, as code).

Raspberry Pi OS 64-bit (Bookworm) reports itself as Debian (``ID=debian``) and is recognised by
its board model in the device tree; 32-bit Raspberry Pi OS reports ``ID=raspbian`` on ``armv7l``.
LiteRT publishes wheels for aarch64 and x86-64 only, so 32-bit ARM is refused with what to do,
unless a ``tflite_runtime`` the user installed is importable.

Standard library only, so that ``scripts/preflight.sh`` can ask before anything is installed.
"""

from __future__ import annotations

import platform as _platform
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

OS_RELEASE = Path("/etc/os-release")
BOARD_MODEL = Path("/proc/device-tree/model")
SUPPORTED_64 = ("aarch64", "arm64", "x86_64", "amd64")
ARM_32 = ("armv7l", "armv6l", "armv8l", "armhf")
PI_OS_HINT = "install Raspberry Pi OS (64-bit) with Raspberry Pi Imager: it runs on Pi 3, 4, 5 and Zero 2 W"


@dataclass(frozen=True)
class Platform:
    machine: str  # uname -m
    os_id: str  # /etc/os-release ID (debian, raspbian, ubuntu, ...)
    codename: str  # VERSION_CODENAME (bookworm, ...)
    pretty: str
    board: str | None  # "Raspberry Pi 4 Model B Rev 1.4", None off a Pi
    python: tuple[int, int]


@dataclass(frozen=True)
class Verdict:
    status: str  # ok, info, warn or fail (doctor's statuses)
    detail: str
    hint: str = ""


def _os_release(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out


def read_platform(
    os_release: Path = OS_RELEASE, board_model: Path = BOARD_MODEL, machine: str | None = None
) -> Platform:
    info = _os_release(os_release)
    try:
        board = board_model.read_bytes().rstrip(b"\0\n").decode(errors="replace") or None
    except OSError:
        board = None
    return Platform(
        machine=machine or _platform.machine(),
        os_id=info.get("ID", "unknown"),
        codename=info.get("VERSION_CODENAME", ""),
        pretty=info.get("PRETTY_NAME", _platform.system()),
        board=board,
        python=(sys.version_info.major, sys.version_info.minor),
    )


def verdict(p: Platform, tflite_runtime_importable: bool | None = None) -> Verdict:
    if p.python < (3, 11):
        return Verdict("fail", f"Python {p.python[0]}.{p.python[1]}: edgepose needs 3.11 or newer", PI_OS_HINT)
    on_pi = bool(p.board and p.board.startswith("Raspberry Pi"))
    where = f"{p.pretty} ({p.machine})" + (f" on {p.board}" if p.board else "")
    if p.machine in ARM_32:
        if tflite_runtime_importable is None:
            tflite_runtime_importable = find_spec("tflite_runtime") is not None
        if tflite_runtime_importable:
            return Verdict(
                "warn",
                f"{where}: 32-bit ARM is not supported; running on the tflite_runtime you installed, with NumPy < 2",
                PI_OS_HINT,
            )
        return Verdict(
            "fail", f"{where}: 32-bit ARM has no LiteRT (or tflite-runtime) wheels, so no model can run", PI_OS_HINT
        )
    if p.machine not in SUPPORTED_64:
        return Verdict("warn", f"{where}: not a supported architecture (aarch64 or x86-64)")
    if on_pi:
        if p.machine in ("aarch64", "arm64") and p.codename == "bookworm":
            return Verdict("ok", f"{where}: supported (Raspberry Pi OS 64-bit, Bookworm)")
        return Verdict("info", f"{where}: 64-bit, expected to work; tested on Bookworm", "")
    if p.machine in ("aarch64", "arm64"):
        return Verdict("ok", f"{where}: supported for development (arm64 Linux; no Pi camera)")
    return Verdict("ok", f"{where}: supported for development (x86-64 Linux; no Pi camera)")


def main() -> int:
    """Print the verdict; exit 1 when the platform cannot run edgepose (for scripts/preflight.sh)."""
    v = verdict(read_platform())
    print(f"{v.status}: {v.detail}")
    if v.hint and v.status in ("warn", "fail"):
        print(f"  -> {v.hint}")
    return 1 if v.status == "fail" else 0


if __name__ == "__main__":
    raise SystemExit(main())
