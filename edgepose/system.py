"""Facts about the host that stats, doctor, metrics and the benchmark report.

Every function returns None (or an empty value) where the host does not expose the fact: on a
laptop there is no ``vcgencmd`` and that is not an error.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
BOARD_MODEL = Path("/proc/device-tree/model")

# Bits of `vcgencmd get_throttled` (Raspberry Pi firmware documentation).
THROTTLE_BITS = {
    0: "under_voltage",
    1: "arm_frequency_capped",
    2: "throttled",
    3: "soft_temperature_limit",
    16: "under_voltage_occurred",
    17: "arm_frequency_capping_occurred",
    18: "throttling_occurred",
    19: "soft_temperature_limit_occurred",
}


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """CPU temperature in °C, or None."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def throttled(run=subprocess.run) -> dict[str, bool] | None:
    """Throttling flags from ``vcgencmd get_throttled``, or None where there is no vcgencmd."""
    if shutil.which("vcgencmd") is None:
        return None
    try:
        out = run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2).stdout
        value = int(out.strip().split("=")[1], 16)
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None
    return parse_throttled(value)


def parse_throttled(value: int) -> dict[str, bool]:
    return {name: bool(value >> bit & 1) for bit, name in THROTTLE_BITS.items()}


def cpu_governor(path: Path = GOVERNOR) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def board_model(path: Path = BOARD_MODEL) -> str | None:
    try:
        return path.read_text().strip("\x00\n ")
    except OSError:
        return None


def rss_bytes() -> int | None:
    """Current resident set size of this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
