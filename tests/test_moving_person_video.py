"""``scripts/moving_person_video.py``: the one-person video the single-person limit runs use."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from edgepose.sources.video import VideoFileSource
from tests.builders.paths import ROOT

SCRIPT = ROOT / "scripts" / "moving_person_video.py"


def test_the_person_goes_across_the_canvas_and_back() -> None:
    positions = runpy.run_path(str(SCRIPT))["positions"]
    xs = positions(200, 900)
    assert len(xs) == 200 and min(xs) == 0 and max(xs) <= 900
    turn = xs.index(max(xs))
    assert xs[: turn + 1] == sorted(xs[: turn + 1]) and xs[turn:] == sorted(xs[turn:], reverse=True)


def test_it_writes_a_video_of_the_person_that_edgepose_reads(tmp_path: Path, squat_path: Path) -> None:
    out = tmp_path / "person.avi"
    args = ["--image", str(squat_path), "--out", str(out), "--frames", "12", "--size", "320x240"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    source = VideoFileSource(out)
    source.open()
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    assert len(frames) == 12 and (frames[0].width, frames[0].height) == (320, 240)
    assert not (frames[0].image == frames[-1].image).all()  # the person moved


def test_an_unreadable_image_is_refused_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.bmp"
    bad.write_bytes(b"no")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--image", str(bad), "--out", str(tmp_path / "o.avi")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot read" in done.stderr and "Traceback" not in done.stderr
