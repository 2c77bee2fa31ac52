"""``edgepose annotate`` and the drawing functions, on the real models, images and video."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.pose import Pose
from edgepose.sources.files import read_image
from edgepose.viz import Style, color_for, draw_poses, poses_from_document
from tests.builders.cli import run_cli
from tests.builders.documents import parse_documents
from tests.builders.paths import ROOT

MIN_SCORE = 0.2  # decoder.min_keypoint_score's default, which annotate uses to hide keypoints
MARGIN = 8  # px around a box within which drawing (keypoint rings, line caps) may reach
LABEL_H, LABEL_W = 24, 90  # px: the "#id score" tag at the top-left corner of a box


def decoded(model: str, image: Path, tmp_path: Path) -> list[dict]:
    """The documents `edgepose run` writes for ``image``: the positions annotate must draw at."""
    out = tmp_path / "poses.jsonl"
    proc = run_cli("run", "--model", model, "--source", str(image), "--sink", f"jsonl:{out}", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    return parse_documents(out.read_text())


def far_mask(shape: tuple[int, ...], documents: list[dict]) -> np.ndarray:
    """True where nothing may be drawn: outside every pose's box grown by MARGIN, and outside its label."""
    far = np.ones(shape[:2], bool)
    for pose in documents[0]["poses"]:
        x0, y0, x1, y1 = (round(v) for v in pose["box"])
        far[max(0, y0 - MARGIN) : y1 + MARGIN, max(0, x0 - MARGIN) : x1 + MARGIN] = False
        far[max(0, y0 - LABEL_H) : y0 + LABEL_H, max(0, x0) : x0 + LABEL_W] = False
    return far


@pytest.mark.parametrize(
    ("model", "image", "people"),
    [
        ("movenet_lightning_int8", "squat.bmp", 1),  # single person
        pytest.param(
            "posenet_mobilenet_v1_075_481x641",
            "posenet_test_image.bmp",
            2,  # several people
            marks=pytest.mark.slow,
        ),
    ],
)
def test_keypoints_drawn_at_decoded_positions(model: str, image: str, people: int, shared: Path, tmp_path: Path):
    source = shared / "images" / image
    docs = decoded(model, source, tmp_path)
    assert len(docs[0]["poses"]) >= people
    out = tmp_path / "annotated.png"
    proc = run_cli("annotate", str(source), str(out), "--model", model, "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert "annotated 1 frame(s)" in proc.stderr
    before, after = read_image(source), read_image(out)
    assert after.shape == before.shape
    # annotate runs the daemon's tracker, so each pose has the id (and colour) `run` published.
    colours = {color_for(p["id"], i) for i, p in enumerate(docs[0]["poses"])}
    drawn = 0
    for pose in docs[0]["poses"]:
        for x, y, score in pose["keypoints"]:
            if score < MIN_SCORE:
                continue
            px = after[round(y), round(x)]
            # The centre of every visible keypoint is filled with a pose's colour (a later pose may overlap).
            assert tuple(int(v) for v in px) in colours, (x, y, px)
            assert (px != before[round(y), round(x)]).any()
            drawn += 1
    assert drawn >= 5 * people
    far = far_mask(before.shape, docs)
    assert far.mean() > 0.2  # the check below covers a real part of the image
    assert np.array_equal(after[far], before[far])


def test_hidden_keypoints_are_not_drawn_and_input_is_untouched() -> None:
    image = np.full((120, 200, 3), 90, np.uint8)
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = np.linspace(20, 180, 17)
    kp[:, 1] = 60
    kp[:, 2] = 0.9
    kp[3] = (100, 20, 0.1)  # below the threshold, away from the row of others
    pose = Pose(kp, 0.8, (20.0, 55.0, 180.0, 65.0), id=7)
    out = draw_poses(image, [pose], Style(min_keypoint_score=0.5, boxes=False, labels=False))
    assert (image == 90).all()  # pure: the frame the pipeline holds is not drawn on
    assert tuple(out[60, 20]) == color_for(7)
    assert (out[20, 100] == 90).all()  # hidden keypoint
    assert tuple(draw_poses(image, [pose], Style(min_keypoint_score=0.05))[20, 100]) == color_for(7)


def test_colours_are_per_id_and_stable() -> None:
    colours = [color_for(i) for i in range(12)]
    assert len(set(colours)) == 12
    assert color_for(5) == color_for(5, index=3)  # the id decides, not the position in the frame
    assert all(max(c) == 255 for c in colours)  # bright on any background


def make_clip(video: Path, out: Path, frames: int) -> None:
    """The first ``frames`` frames of ``video`` at half size (keeps the test fast)."""
    cap = cv2.VideoCapture(str(video))
    writer = None
    for _ in range(frames):
        ok, bgr = cap.read()
        assert ok
        bgr = cv2.resize(bgr, (640, 360))
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 360))
        writer.write(bgr)
    cap.release()
    writer.release()


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    n, size = 0, (0, 0)
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        n, size = n + 1, (bgr.shape[1], bgr.shape[0])
    cap.release()
    return n, size


def test_video_and_from_jsonl(walking_video: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    make_clip(walking_video, clip, 8)
    jsonl = tmp_path / "poses.jsonl"
    proc = run_cli("run", "--source", str(clip), "--sink", f"jsonl:{jsonl}", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(parse_documents(jsonl.read_text())) == 8
    for args in ([], ["--from-jsonl", str(jsonl)]):
        out = tmp_path / f"out{len(args)}.mp4"
        proc = run_cli("annotate", str(clip), str(out), "--threads", "2", *args)
        assert proc.returncode == 0, proc.stderr
        assert count_frames(out) == (8, (640, 360))


def test_from_jsonl_draws_the_same_as_the_model(squat_path: Path, tmp_path: Path) -> None:
    docs = decoded("movenet_lightning_int8", squat_path, tmp_path)
    model_out, jsonl_out = tmp_path / "model.png", tmp_path / "jsonl.png"
    assert run_cli("annotate", str(squat_path), str(model_out), "--threads", "2").returncode == 0
    proc = run_cli("annotate", str(squat_path), str(jsonl_out), "--from-jsonl", str(tmp_path / "poses.jsonl"))
    assert proc.returncode == 0, proc.stderr
    a, b = read_image(model_out), read_image(jsonl_out)
    # Documents round coordinates to 0.01 px, which can move an anti-aliased edge by a pixel.
    assert (a != b).any(axis=2).mean() < 0.002
    assert (b != read_image(squat_path)).any(axis=2).mean() > 0.01
    assert len(poses_from_document(docs[0])) == 1


def test_directory_keeps_names_and_counts_bad_files(shared: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(shared / "images" / "squat.bmp", src / "a.bmp")
    shutil.copy(shared / "images" / "posenet_test_image.bmp", src / "b.bmp")
    (src / "c.png").write_bytes(b"not an image")
    proc = run_cli("annotate", str(src), str(tmp_path / "out"), "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bmp", "b.bmp"]
    assert "1 failed and skipped" in proc.stderr
    assert not np.array_equal(read_image(tmp_path / "out" / "a.bmp"), read_image(src / "a.bmp"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.bmp", "out.png"], "source not found"),  # no such input
        (["{squat}", "out.txt"], "has no image suffix"),  # output format unknown
        (["{squat}", "out.png", "--from-jsonl", "nope.jsonl"], "JSONL file not found"),
        (["{squat}", "out.png", "--from-jsonl", "{bad}"], "is for a 1x1 frame"),  # recorded from another input
    ],
)
def test_bad_inputs_give_one_line(args: list[str], message: str, squat_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    doc = '{"frame": 0, "width": 1, "height": 1, "poses": []}\n'
    bad.write_text(doc)
    args = [a.format(squat=squat_path, bad=bad) for a in args]
    proc = run_cli("annotate", *args, cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 66, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture()
def mixed_dir(shared: Path, tmp_path: Path) -> Path:
    """Images of two sizes with an unreadable one before the end: names must not shift past it."""
    src = tmp_path / "mixed"
    src.mkdir()
    shutil.copy(shared / "images" / "squat.bmp", src / "a.bmp")  # 500x610
    (src / "b.jpg").write_bytes(b"not an image")
    shutil.copy(shared / "images" / "posenet_test_image.bmp", src / "c.bmp")  # 640x480
    shutil.copy(shared / "images" / "squat.bmp", src / "d.bmp")
    return src


def assert_drawn_under_own_names(src: Path, out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["a.bmp", "c.bmp", "d.bmp"]
    for name in ("a.bmp", "c.bmp", "d.bmp"):
        assert read_image(out / name).shape == read_image(src / name).shape, name


def test_directory_names_survive_an_unreadable_image(mixed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("annotate", str(mixed_dir), str(out), "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    assert_drawn_under_own_names(mixed_dir, out)
    assert "annotated 3 frame(s)" in proc.stderr and "1 failed and skipped" in proc.stderr


def test_from_jsonl_skips_an_unreadable_image(mixed_dir: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "poses.jsonl"
    proc = run_cli("run", "--source", str(mixed_dir), "--sink", f"jsonl:{jsonl}", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    proc = run_cli("annotate", str(mixed_dir), str(out), "--from-jsonl", str(jsonl))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert_drawn_under_own_names(mixed_dir, out)
    assert "1 failed and skipped" in proc.stderr


def test_from_jsonl_matches_directory_images_by_file_name(mixed_dir: Path, shared: Path, tmp_path: Path) -> None:
    """Recorded while b.jpg was broken, drawn after it was fixed: frame counters differ, file names do not."""
    jsonl = tmp_path / "poses.jsonl"
    proc = run_cli("run", "--source", str(mixed_dir), "--sink", f"jsonl:{jsonl}", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    (mixed_dir / "b.jpg").write_bytes((shared / "images" / "squat.bmp").read_bytes())  # now readable
    out = tmp_path / "out"
    proc = run_cli("annotate", str(mixed_dir), str(out), "--from-jsonl", str(jsonl))
    assert proc.returncode == 0, proc.stderr
    assert "1 written without overlay" in proc.stderr  # b.jpg: nothing was recorded for it
    assert "matched no frame" not in proc.stderr
    for name in ("a.bmp", "c.bmp", "d.bmp"):  # each drawn with its own document
        assert not np.array_equal(read_image(out / name), read_image(mixed_dir / name)), name
    assert (out / "b.jpg").is_file()
