"""The daemon pins glibc's mmap threshold, so that large freed blocks leave the process
(:mod:`edgepose.service.heap`): the real glibc's behaviour, and what is left alone."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from edgepose.service.heap import M_MMAP_THRESHOLD, MMAP_THRESHOLD, pin_mmap_threshold

pytestmark = pytest.mark.pi  # apt's glibc on arm64 behaves the same

# Frees an 8 MB block (which raises glibc's moving threshold to 8 MB), then takes 1 MB, and says
# whether that 1 MB came from a heap or from a mapping of its own: glibc's own count of mapped
# chunks (mallinfo2), which qemu's emulated /proc cannot blur.
PROBE = """
import ctypes, sys
from edgepose.service.heap import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pin":
    assert pin_mmap_threshold({})
big = bytearray(8 << 20)
del big
mapped = libc.mallinfo2().hblks
small = bytearray(1 << 20)
print("own mapping" if libc.mallinfo2().hblks == mapped + 1 else "heap")
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc (mallinfo2: 2.33 and later)")
def test_a_large_block_after_a_larger_one_is_freed_gets_its_own_mapping() -> None:
    def where(mode: str) -> str:
        done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert where("moving") == "heap"  # what the daemon did before
    assert where("pin") == "own mapping"


class Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


def test_the_threshold_is_set_at_glibcs_starting_value() -> None:
    libc = Libc()
    assert pin_mmap_threshold({}, libc)
    assert libc.calls == [(M_MMAP_THRESHOLD, MMAP_THRESHOLD)] and MMAP_THRESHOLD == 128 * 1024


def test_a_threshold_the_user_set_is_left_alone() -> None:
    libc = Libc()
    assert not pin_mmap_threshold({"MALLOC_MMAP_THRESHOLD_": "65536"}, libc)
    assert libc.calls == []


def test_a_c_library_without_mallopt_is_left_as_it_is() -> None:
    assert not pin_mmap_threshold({}, object())


def test_the_daemon_pins_it_before_loading_a_model(squat_path, movenet_path) -> None:
    from tests.builders.cli import run_cli

    done = run_cli("run", "-v", "--source", str(squat_path), "--model", str(movenet_path), "--sink", "stdout")
    assert done.returncode == 0, done.stderr
    pinned, loaded = done.stderr.find("mmap threshold pinned"), done.stderr.find("starting model")
    assert 0 <= pinned < loaded
