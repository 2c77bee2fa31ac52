"""A model file the interpreter maps is given back to the kernel once its weights are packed.

The engine builds the interpreter from the file's path, not from a copy of its bytes, and drops the
mapping's resident pages after allocating the tensors (:mod:`edgepose.inference.residency`). What is
checked here: the pages are gone from this process, the outputs are the same numbers as an
interpreter built from the bytes (also after pages are read again), nothing writable is touched,
and a model edgepose rewrote before loading (BlazePose without its mask) still loads from its bytes.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.inference.residency import parse_maps, read_only_mappings_of, release_file_pages
from edgepose.inference.unread import without_unread_outputs

linux_only = pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps (Linux)")

MAPS = """\
00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/python3
7f10a0000000-7f10a02c2000 r--s 00000000 fd:01 4242        /models/my model.tflite
7f10a1000000-7f10a1001000 rw-s 00001000 fd:01 4242        /models/my model.tflite
7f10a2000000-7f10a2100000 r--p 00000000 fd:01 4242        /models/my model.tflite (deleted)
7f10a3000000-7f10a3100000 r--s 00000000 fd:02 4242        /other/disk.tflite
7f10a4000000-7f10a4100000 r--s 00000000 fd:01 4243        /models/next.tflite
7f10a5000000-7f10a5100000 rw-p 00000000 00:00 0
not a mapping line
"""


def resident_kb(path: Path) -> int:
    """This process's resident kB of every mapping of ``path`` (by inode), from /proc/self/smaps."""
    inode, total, inside = path.stat().st_ino, 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            inside = len(fields) >= 5 and fields[4] == str(inode)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


def test_only_read_only_mappings_of_the_same_file_are_chosen() -> None:
    assert len(list(parse_maps(MAPS))) == 7  # the line that is not a mapping is skipped
    chosen = read_only_mappings_of(MAPS, device=(0xFD, 0x01), inode=4242)
    assert [(hex(m.start), m.perms) for m in chosen] == [("0x7f10a0000000", "r--s"), ("0x7f10a2000000", "r--p")]
    assert chosen[0].size == 0x2C2000
    assert read_only_mappings_of(MAPS, device=(0xFD, 0x01), inode=1) == []


def test_release_advises_each_range_and_counts_what_was_done(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"x")
    st = path.stat()
    maps = tmp_path / "maps"
    line = "{:x}-{:x} r--s 00000000 {:02x}:{:02x} {} {}\n"
    maps.write_text(
        line.format(0x1000, 0x3000, os.major(st.st_dev), os.minor(st.st_dev), st.st_ino, path)
        + line.format(0x8000, 0x9000, os.major(st.st_dev), os.minor(st.st_dev), st.st_ino, path)
    )
    calls: list[tuple[int, int]] = []

    def advise(start: int, length: int) -> bool:
        calls.append((start, length))
        return start == 0x1000  # the second one fails: not counted

    assert release_file_pages(path, advise, maps) == 0x2000
    assert calls == [(0x1000, 0x2000), (0x8000, 0x1000)]
    assert release_file_pages(tmp_path / "gone.tflite", advise, maps) == 0


@linux_only
def test_released_pages_leave_the_process_and_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    data = np.random.default_rng(3).integers(0, 256, 4 << 20, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert mapped[:] == data  # every page read: resident
        assert resident_kb(path) >= 4096
        assert release_file_pages(path) == len(data)
        assert resident_kb(path) == 0
        assert mapped[:] == data  # faulted back in from the file, unchanged


@linux_only
def test_the_engine_maps_the_model_and_gives_its_pages_back(movenet_path: Path) -> None:
    model = read_model(movenet_path)
    assert model.on_disk
    mapped = LiteRtEngine(model, threads=2)
    assert mapped.released >= movenet_path.stat().st_size  # whole pages
    assert resident_kb(movenet_path) < 512  # only what is read again (quantization parameters)
    assert mapped.model.content == b""  # the bytes are not kept beside the mapping
    copied = LiteRtEngine(model, threads=2, content=model.content)
    assert copied.released == 0
    rng = np.random.default_rng(5)
    for _ in range(3):
        frame = rng.integers(0, 256, mapped.input.shape, dtype=np.uint8).astype(mapped.input.dtype)
        for ours, theirs in zip(mapped.invoke(frame), copied.invoke(frame), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        release_file_pages(movenet_path)  # pages dropped between invokes come back the same


@linux_only
def test_a_rewritten_model_loads_from_its_bytes(models_dir: Path) -> None:
    path = models_dir / "pose_landmark_lite.tflite"
    model = without_unread_outputs(read_model(path))
    assert not model.on_disk  # the mask is cut: the file is not what runs
    engine = LiteRtEngine(model, threads=2)
    assert engine.released == 0
    assert engine.model.content == model.content
    assert [o.name for o in engine.outputs] == ["Identity", "Identity_1", "Identity_3", "Identity_4"]
