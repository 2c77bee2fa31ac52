"""A model file the interpreter maps is given back to the kernel once its weights are packed.

The engine builds the interpreter from the file's path, not from a copy of its bytes, and drops the
mapping's resident pages after allocating the tensors (:mod:`edgepose.inference.residency`). What is
checked here: the pages are gone from this process, the outputs are the same numbers as an
interpreter built from the bytes (also after pages are read again), nothing writable is touched,
and a model edgepose rewrote before loading (BlazePose without its mask) is written to an unlinked
file on a disk and mapped the same way (:mod:`edgepose.inference.spill`), or loads from its bytes
where there is no such place.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgepose.config.sections import ModelConfig
from edgepose.inference.accelerator import open_engine
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import ModelFile, read_model
from edgepose.inference.residency import parse_maps, read_only_mappings_of, release_file_pages
from edgepose.inference.spill import filesystem_of, spill_directory, spilled
from edgepose.inference.unread import without_unread_outputs

linux_only = pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps (Linux)")
pytestmark = pytest.mark.pi  # madvise, /proc and the mappings as apt's Python on arm64 sees them

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


MOUNTINFO = """\
22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
25 22 0:21 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
26 25 8:3 / /tmp/on\\040disk rw,relatime shared:6 - ext4 /dev/sda3 rw
27 22 0:22 / /run rw,nosuid shared:7 - tmpfs tmpfs rw
broken line without a separator
"""


def test_the_file_system_is_that_of_the_deepest_mount_holding_the_directory() -> None:
    assert filesystem_of(Path("/var/cache/edgepose"), MOUNTINFO) == "ext4"
    assert filesystem_of(Path("/tmp"), MOUNTINFO) == "tmpfs"
    assert filesystem_of(Path("/tmp/x"), MOUNTINFO) == "tmpfs"
    assert filesystem_of(Path("/tmp/on disk/models"), MOUNTINFO) == "ext4"
    assert filesystem_of(Path("/tmpfoo"), MOUNTINFO) == "ext4"  # a prefix of the name is not a parent
    assert filesystem_of(Path("/x"), "") is None


def test_a_model_is_spilled_only_to_a_writable_directory_on_a_disk(tmp_path: Path) -> None:
    memory, disk = tmp_path / "memory", tmp_path / "disk"
    memory.mkdir()
    disk.mkdir()
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 1 8:2 / / rw - ext4 /dev/sda2 rw\n30 22 0:40 / {memory.resolve()} rw - tmpfs tmpfs rw\n")
    assert spill_directory([tmp_path / "missing", memory, disk], mountinfo) == disk.resolve()
    assert spill_directory([memory], mountinfo) is None  # releasing a tmpfs page frees nothing
    assert spill_directory([disk], tmp_path / "no-mountinfo") is None


@linux_only
def test_a_spilled_model_has_no_name_and_reads_back(tmp_path: Path) -> None:
    content = bytes(range(256)) * 1000
    with spilled(content, tmp_path) as path:
        assert path.read_bytes() == content
        assert list(tmp_path.iterdir()) == []  # unlinked as it was made: nothing to clean up
    assert not path.exists() or path.resolve().parent != tmp_path.resolve()  # the descriptor is closed


def resident_kb_under(directory: Path) -> tuple[int, int]:
    """(mappings, resident kB) of this process's mappings of files in ``directory`` (deleted ones too)."""
    prefix, count, total, inside = f"{directory.resolve()}/", 0, 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            inside = len(fields) == 6 and fields[5].startswith(prefix)
            count += inside
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return count, total


@linux_only
def test_a_rewritten_model_is_spilled_mapped_and_given_back(models_dir: Path, tmp_path: Path) -> None:
    model = without_unread_outputs(read_model(models_dir / "pose_landmark_lite.tflite"))
    spilled_engine = LiteRtEngine(model, threads=2, spill_to=tmp_path)
    mappings, resident = resident_kb_under(tmp_path)
    assert mappings >= 1 and resident < 256  # mapped from the unlinked file, its pages given back
    assert spilled_engine.released >= len(model.content)
    assert spilled_engine.model.content == b""
    from_bytes = LiteRtEngine(model, threads=2)
    tensor = np.random.default_rng(11).random(from_bytes.input.shape, dtype=np.float32)
    for ours, theirs in zip(spilled_engine.invoke(tensor), from_bytes.invoke(tensor), strict=True):
        np.testing.assert_array_equal(ours, theirs)


@linux_only
def test_the_cpu_engine_keeps_neither_copy_of_a_rewritten_model(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if spill_directory([tmp_path]) is None:
        pytest.skip(f"{tmp_path} is not on a disk: nothing to spill to")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = ModelConfig(name="pose_landmark_full.tflite", accelerator="cpu", threads=2)
    choice = open_engine(config, [models_dir])
    try:
        assert choice.engine.engine.model.content == b""
        assert resident_kb_under(tmp_path)[0] >= 1
    finally:
        choice.engine.close()


def test_the_cpu_engine_reads_the_model_once_and_again_only_to_rebuild(
    movenet_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgepose.inference.accelerator as accelerator

    events: list[str] = []

    def reading(path: Path) -> ModelFile:
        events.append("read")
        return read_model(path)

    def building(*args: object, **kwargs: object) -> LiteRtEngine:
        events.append("build")
        return LiteRtEngine(*args, **kwargs)  # type: ignore[arg-type]

    class Supervised(accelerator.SupervisedEngine):
        def __init__(self, *args: object, **kwargs: object) -> None:
            events.append("supervise")
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(accelerator, "read_model", reading)
    monkeypatch.setattr(accelerator, "LiteRtEngine", building)
    monkeypatch.setattr(accelerator, "SupervisedEngine", Supervised)
    choice = open_engine(ModelConfig(name=str(movenet_path), accelerator="cpu", threads=2), [movenet_path.parent])
    try:
        # The first build loads the model read to choose it: two copies at once in a small heap otherwise.
        assert events[events.index("supervise") :] == ["supervise", "build"]
        del events[:]
        rebuilt = choice.engine._build()  # what the supervisor calls after a failure: the file again
        assert events == ["read", "build"]
        assert rebuilt.input == choice.engine.input
    finally:
        choice.engine.close()
