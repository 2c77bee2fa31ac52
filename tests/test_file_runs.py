"""One-off runs over files (an image, a directory, a video): every frame accounted for, by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.sources.imagesize import header_size
from edgepose.sources.video import VideoFileSource
from tests.bad_files import huge_png, run_cli_obeying_modes, unreadable, video
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents


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


# --- unreadable inputs and unwritable outputs: one line and exit 66, never "unexpected error" ---


def assert_one_line(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "unexpected error" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgepose: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], (needle, proc.stderr)


def test_unreadable_image_exits_66(squat_path: Path, tmp_path: Path) -> None:
    image = unreadable(Path(shutil.copy(squat_path, tmp_path / "a.bmp")))
    proc = run_cli_obeying_modes("run", "--source", str(image))
    assert_one_line(proc, 66, "cannot read image", "Permission denied", str(image))


def test_unreadable_image_in_a_directory_is_skipped_and_named(mixed_dir: Path) -> None:
    secret = unreadable(Path(shutil.copy(mixed_dir / "a.bmp", mixed_dir / "a2.bmp")))
    proc = run_cli_obeying_modes("run", "--source", str(mixed_dir), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert [d["file"] for d in parse_documents(proc.stdout)] == ["a.bmp", "c.bmp"]
    assert f"{secret}: Permission denied" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_directory_exits_66(mixed_dir: Path) -> None:
    unreadable(mixed_dir)
    proc = run_cli_obeying_modes("run", "--source", str(mixed_dir))
    assert_one_line(proc, 66, "cannot read directory", "Permission denied")


def test_source_inside_an_unreadable_directory_exits_66(mixed_dir: Path) -> None:
    unreadable(mixed_dir)
    proc = run_cli_obeying_modes("run", "--source", str(mixed_dir / "a.bmp"))
    assert_one_line(proc, 66, "Permission denied")


def test_unreadable_video_exits_66(tmp_path: Path) -> None:
    clip = unreadable(video(tmp_path / "clip.avi", 3))
    proc = run_cli_obeying_modes("run", "--source", str(clip))
    assert_one_line(proc, 66, "cannot read video", "Permission denied")


def test_unreadable_eval_image_is_skipped_and_named(shared: Path, tmp_path: Path) -> None:
    images = Path(shutil.copytree(shared / "keypoints" / "ochuman", tmp_path / "ochuman"))
    unreadable(images / "003799.jpg")
    proc = run_cli_obeying_modes(
        "eval", "--annotations", str(images / "test_ochuman.json"), "--images", str(images), "--threads", "2"
    )
    assert proc.returncode == 0, proc.stderr
    assert "not evaluated: 003799.jpg" in proc.stdout and "Permission denied" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_models_fetch_into_an_unwritable_directory_exits_66(tmp_path: Path) -> None:
    target = tmp_path / "models"
    target.mkdir(mode=0o555)
    proc = run_cli_obeying_modes("models", "fetch", "squat", "--dir", str(target), "--base-url", "http://127.0.0.1:9")
    assert_one_line(proc, 66, f"cannot write to {target}", "Permission denied")


@pytest.mark.parametrize(
    "where",
    [
        "missing/edgepose.yaml",  # the directory does not exist
        ".",  # a directory, not a file
    ],
)
def test_write_default_to_a_bad_path_exits_66(where: str, tmp_path: Path) -> None:
    proc = run_cli("check-config", "--write-default", str(tmp_path / where))
    assert_one_line(proc, 66, "cannot write")


@pytest.mark.parametrize("frames", [1, 2])
def test_every_frame_of_a_short_video_is_processed(frames: int, tmp_path: Path) -> None:
    clip = video(tmp_path / "clip.avi", frames)
    proc = run_cli("run", "--source", str(clip), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert [d["frame"] for d in parse_documents(proc.stdout)] == list(range(frames))


def test_a_looping_one_frame_video_repeats_its_frame(tmp_path: Path) -> None:
    source = VideoFileSource(video(tmp_path / "one.avi", 1), loop=True)
    source.open()
    try:
        frames = [source.read() for _ in range(3)]
    finally:
        source.close()
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(np.array_equal(f.image, frames[0].image) for f in frames)


# --- images too large to decode: refused with a clear line, skipped in a directory ---


def test_huge_image_exits_66_with_its_size(tmp_path: Path) -> None:
    image = huge_png(tmp_path / "huge.png")
    assert image.stat().st_size < 20_000  # the header claims 50000x50000; the file is tiny
    proc = run_cli("run", "--source", str(image))
    assert_one_line(proc, 66, "50000x50000", "too large")
    assert "CV_IO_MAX_IMAGE_PIXELS" not in proc.stderr


def test_huge_image_in_a_directory_is_skipped(mixed_dir: Path) -> None:
    (mixed_dir / "b.jpg").unlink()
    huge_png(mixed_dir / "b2.png")
    proc = run_cli("run", "--source", str(mixed_dir), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert [d["file"] for d in parse_documents(proc.stdout)] == ["a.bmp", "c.bmp"]
    assert "b2.png" in proc.stderr and "too large" in proc.stderr


@pytest.mark.parametrize(
    ("suffix", "params"),
    [
        (".png", []),
        (".jpg", []),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),  # progressive: another start-of-frame marker
        (".bmp", []),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),  # lossy (VP8)
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),  # lossless (VP8L)
        (".ppm", []),
        (".pgm", []),
    ],
)
def test_header_size_matches_the_decoded_size(suffix: str, params: list[int]) -> None:
    image = np.zeros((37, 53, 3), np.uint8)
    if suffix == ".pgm":
        image = image[:, :, 0]
    ok, data = cv2.imencode(suffix, image, params)
    assert ok
    assert header_size(data.tobytes()) == (53, 37)


def test_header_size_of_something_else_is_none() -> None:
    assert header_size(b"GIF89a") is None
    assert header_size(b"\x89PNG\r\n\x1a\n") is None  # cut short


# --- runs that process nothing, and runs where frames failed ---


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--max-frames", "0"),  # would process nothing
        ("--max-frames", "-1"),
        ("--duration", "0"),
        ("--duration", "-5"),
        ("--duration", "nan"),  # compares false with everything: it would never stop the run
    ],
)
def test_a_limit_that_allows_no_frame_is_refused(flag: str, value: str, squat_path: Path) -> None:
    proc = run_cli("run", "--source", str(squat_path), "--sink", "stdout", flag, value)
    assert_one_line(proc, 78, flag, value)
    assert proc.stdout == ""


def test_a_directory_of_only_bad_images_exits_66_naming_each(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    (folder / "b.png").write_bytes(b"")
    huge_png(folder / "c.png")
    proc = run_cli("run", "--source", str(folder), "--sink", "stdout")
    assert_one_line(proc, 66, "no frame was processed", "3 failed")
    assert proc.stdout == ""
    for name in ("a.jpg", "b.png", "c.png"):
        assert str(folder / name) in proc.stderr, name


def test_annotate_with_nothing_to_draw_exits_66(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    proc = run_cli("annotate", str(folder), str(tmp_path / "out"))
    assert_one_line(proc, 66, "no frame was processed")


def test_a_finite_run_names_every_failed_file(squat_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seven_bad"
    folder.mkdir()
    shutil.copy(squat_path, folder / "good.bmp")
    bad = [folder / f"bad{i}.jpg" for i in range(7)]
    for path in bad:
        path.write_bytes(b"garbage")
    proc = run_cli("run", "--source", str(folder), "--sink", "stdout", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(parse_documents(proc.stdout)) == 1
    assert "7 frames failed" in proc.stderr
    for path in bad:
        assert str(path) in proc.stderr, path


def test_the_failure_summary_is_capped_then_counted(squat_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many_bad"
    folder.mkdir()
    shutil.copy(squat_path, folder / "good.bmp")
    for i in range(25):
        (folder / f"bad{i:02d}.jpg").write_bytes(b"garbage")
    for command in (["run", "--sink", "stdout"], ["annotate"]):
        args = [command[0], str(folder)] if command[0] == "annotate" else [command[0], "--source", str(folder)]
        args += [str(tmp_path / "out")] if command[0] == "annotate" else command[1:]
        proc = run_cli(*args, "--threads", "2")
        assert proc.returncode == 0, proc.stderr
        named = [f"bad{i:02d}.jpg" for i in range(25) if f"bad{i:02d}.jpg" in proc.stderr]
        assert named == [f"bad{i:02d}.jpg" for i in range(20)], (command, proc.stderr)
        assert "and 5 more" in proc.stderr, proc.stderr
