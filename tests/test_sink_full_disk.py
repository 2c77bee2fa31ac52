"""A sink that cannot write (a full disk, a closed pipe) drops whole documents, counts them by
cause, says so once, retries, and never takes the run down. On a real full filesystem: a small
tmpfs (root only, else skipped) or /dev/full."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgepose.app import App
from edgepose.config import load_config
from edgepose.documents.output import FrameOutput
from edgepose.sinks.jsonlines import JsonlFileSink
from tests.bad_files import fill, tmpfs
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents
from tests.builders.paths import ROOT

IMAGES = 12


@pytest.fixture()
def images(squat_path: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(IMAGES):
        shutil.copy(squat_path, folder / f"{i:02d}.bmp")
    return folder


def line_only(line: str) -> FrameOutput:
    """A frame's output of which a file sink reads only the line."""
    return FrameOutput(None, None, {}, line)  # type: ignore[arg-type]


def test_a_full_disk_drops_whole_documents_and_the_other_sinks_go_on(images: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk, leave=4096)  # one page: room for three documents and part of a fourth
        out = disk / "poses.jsonl"
        proc = run_cli("run", "--source", str(images), "--sink", f"jsonl:{out}", "--sink", "stdout", "--threads", "2")
        text = out.read_text()
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(parse_documents(proc.stdout)) == IMAGES  # stdout got every document
    assert text.endswith("\n")
    kept = parse_documents(text)  # every line is a whole document
    assert 1 <= len(kept) < IMAGES
    lost = IMAGES - len(kept)
    said = [line for line in proc.stderr.splitlines() if "cannot write (No space left on device)" in line]
    assert len(said) == 1, proc.stderr  # once for the change of state, not once per document
    assert f"{lost} (ENOSPC: {lost}) document(s) could not be written" in proc.stderr


def test_writing_resumes_once_there_is_room(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    line = json.dumps({"frame": 0, "pad": "x" * 1000})
    with tmpfs(tmp_path / "disk", "64k") as disk:
        filler = fill(disk, leave=4096)
        sink = JsonlFileSink(disk / "poses.jsonl")
        sink.open({})
        with caplog.at_level(logging.WARNING):
            for _ in range(8):
                sink.write(line_only(line))
            dropped = sink.dropped
            assert dropped >= 4 and sink.counters() == {"writing": 0, "dropped_enospc": dropped}
            assert sink.trouble() == f"cannot write (ENOSPC): {dropped} document(s) dropped so far"  # health says it
            assert (disk / "poses.jsonl").read_text().endswith("\n")
            filler.unlink()
            sink.write(line_only(line))
            assert sink.trouble() is None
            sink.close()
        text = (disk / "poses.jsonl").read_text()
    assert [json.loads(x) for x in text.splitlines()] == [json.loads(line)] * (8 - dropped + 1)
    assert f"writing again after {dropped} document(s) dropped (ENOSPC)" in caplog.text
    assert sink.dropped == dropped


def test_a_file_cut_off_mid_line_is_appended_to_after_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "poses.jsonl"
    path.write_text('{"frame": 0}\n{"frame": 1, "po')  # a run before was killed mid-write
    sink = JsonlFileSink(path)
    sink.open({})
    sink.write(line_only('{"frame": 2}'))
    sink.close()
    assert path.read_text().splitlines() == ['{"frame": 0}', '{"frame": 1, "po', '{"frame": 2}']


def test_stdout_on_a_full_device_is_counted_not_a_crash(squat_path: Path) -> None:
    command = [sys.executable, "-m", "edgepose", "run", "--source", str(squat_path), "--sink", "stdout"]
    with Path("/dev/full").open("w") as full:
        proc = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "stdout: cannot write (No space left on device)" in proc.stderr
    assert "stdout: 1 (ENOSPC: 1) document(s) could not be written" in proc.stderr


def test_a_closed_stdout_is_refused_at_start(squat_path: Path) -> None:
    command = [sys.executable, "-m", "edgepose", "run", "--source", str(squat_path), "--sink", "stdout"]
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" >&-', *command], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 66, proc.stderr
    assert "the stdout sink has no standard output" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_part_that_fails_to_stop_is_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    app = App(load_config(None, []))

    def full_disk() -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    app._stops.append(("jsonl:poses.jsonl", full_disk))
    with caplog.at_level(logging.INFO):
        app.stop()
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is None  # the traceback is logged at debug only (-v)
    assert "jsonl:poses.jsonl: OSError: [Errno 28] No space left on device" in record.getMessage()
