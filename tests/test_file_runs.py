"""One-off runs over files (an image, a directory, a video): every frame accounted for, by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import parse_documents, run_cli


@pytest.fixture()
def mixed_dir(shared: Path, tmp_path: Path) -> Path:
    src = tmp_path / "mixed"
    src.mkdir()
    shutil.copy(shared / "images" / "squat.bmp", src / "a.bmp")  # 500x610
    (src / "b.jpg").write_bytes(b"not an image")
    shutil.copy(shared / "images" / "posenet_test_image.bmp", src / "c.bmp")  # 640x480
    return src


def test_documents_of_a_directory_name_their_file(mixed_dir: Path) -> None:
    proc = run_cli("run", "--source", str(mixed_dir), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    docs = parse_documents(proc.stdout)
    assert [(d["file"], d["width"], d["height"]) for d in docs] == [("a.bmp", 500, 610), ("c.bmp", 640, 480)]
