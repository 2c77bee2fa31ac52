"""Every exit code, each triggered by a real bad input, with one clear line and no traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.builders.cli import assert_clean_error, run_cli
from tests.builders.documents import parse_documents
from tests.builders.paths import MOVENET_TPU

EX_CONFIG, EX_NOINPUT, EX_UNAVAILABLE = 78, 66, 69


@pytest.fixture()
def random_model(tmp_path: Path) -> Path:
    path = tmp_path / "random.tflite"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


# (config text, the words the one-line error must contain)
BAD_CONFIGS = [
    ("model: [threads: 4\n", "malformed YAML"),  # unclosed flow sequence
    ("model:\n  treads: 2\n", "model.treads: unknown key"),
    ("model:\n  threads: four\n", "model.threads: 'four' is not a whole number"),
    ("decoder:\n  min_pose_score: 1.5\n", "decoder.min_pose_score: 1.5 is above the maximum 1.0"),
    ("mqtt:\n  qos_poses: 5\n", "allowed: 0, 1, 2"),
    ("- just\n- a list\n", "top level must be a mapping"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_CONFIGS)
def test_bad_config_exits_78(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("check-config", "-c", str(cfg)), EX_CONFIG, needle)
    assert_clean_error(run_cli("run", "-c", str(cfg)), EX_CONFIG, needle)


def test_bad_config_names_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("device_id: pi\nmodel:\n  name: x\n  threads: 0\n")
    assert_clean_error(run_cli("check-config", "-c", str(cfg)), EX_CONFIG, f"{cfg}:4: model.threads")


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    assert_clean_error(run_cli("check-config", "-c", str(tmp_path / "nope.yaml")), EX_CONFIG, "not found")


def test_bad_override_exits_78() -> None:
    assert_clean_error(run_cli("check-config", "--set", "model.threads=0"), EX_CONFIG, "model.threads")


def test_good_config_exits_0() -> None:
    proc = run_cli("check-config", "-c", "config/edgepose.yaml")
    assert proc.returncode == 0, proc.stderr


def test_missing_model_file_exits_66(tmp_path: Path, squat_path: Path) -> None:
    proc = run_cli("run", "--model", str(tmp_path / "absent.tflite"), "--source", str(squat_path))
    assert_clean_error(proc, EX_NOINPUT, "model file not found")


def test_unknown_model_name_exits_66(squat_path: Path) -> None:
    proc = run_cli("run", "--model", "no_such_model", "--source", str(squat_path))
    assert_clean_error(proc, EX_NOINPUT, "unknown model", "movenet_lightning_int8")


def test_random_bytes_model_exits_66(random_model: Path, squat_path: Path) -> None:
    proc = run_cli("run", "--model", str(random_model), "--source", str(squat_path))
    assert_clean_error(proc, EX_NOINPUT, "not a TFLite model")


def test_edgetpu_model_on_cpu_exits_69(models_dir: Path, squat_path: Path) -> None:
    proc = run_cli("run", "--model", str(models_dir / MOVENET_TPU), "--source", str(squat_path), "--accelerator", "cpu")
    assert_clean_error(proc, EX_UNAVAILABLE, "compiled for the Edge TPU")


def test_missing_image_exits_66(movenet_path: Path, tmp_path: Path) -> None:
    proc = run_cli("run", "--model", str(movenet_path), "--source", str(tmp_path / "absent.jpg"))
    assert_clean_error(proc, EX_NOINPUT, "not found")


def test_corrupt_image_exits_66(movenet_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    proc = run_cli("run", "--model", str(movenet_path), "--source", str(bad))
    assert_clean_error(proc, EX_NOINPUT, "cannot decode image")


def test_unreadable_video_exits_66(movenet_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    proc = run_cli("run", "--model", str(movenet_path), "--source", str(bad))
    assert_clean_error(proc, EX_NOINPUT, "cannot read video")


def test_corrupt_image_in_a_directory_is_skipped_and_counted(
    movenet_path: Path, squat_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.bmp").write_bytes(squat_path.read_bytes())
    (folder / "b.jpg").write_bytes(b"garbage")
    (folder / "c.bmp").write_bytes(squat_path.read_bytes())
    proc = run_cli("run", "--model", str(movenet_path), "--source", str(folder), "--sink", "stdout")
    assert proc.returncode == 0, proc.stderr
    docs = parse_documents(proc.stdout)
    assert len(docs) == 2
    assert "1 failed" in proc.stderr


def test_verbose_shows_the_traceback(tmp_path: Path, squat_path: Path) -> None:
    proc = run_cli("run", "-v", "--model", str(tmp_path / "absent.tflite"), "--source", str(squat_path))
    assert proc.returncode == EX_NOINPUT
    assert "Traceback" in proc.stderr


def test_done_when_command_prints_one_valid_document(movenet_path: Path, squat_path: Path) -> None:
    proc = run_cli("run", "--model", str(movenet_path), "--source", str(squat_path), "--sink", "stdout")
    assert proc.returncode == 0, proc.stderr
    (doc,) = parse_documents(proc.stdout)
    assert doc["width"] == 500 and doc["height"] == 610
    assert len(doc["poses"]) == 1 and doc["poses"][0]["id"] is None
