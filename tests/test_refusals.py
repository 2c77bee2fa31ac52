"""Bad invocations and inputs refused through the real CLI, each with its exit code and one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders.cli import assert_clean_error, run_cli
from tests.builders.paths import ROOT

EX_USAGE, EX_NOINPUT, EX_CONFIG = 64, 66, 78


# -- usage errors ----------------------------------------------------------------------------------

# (arguments, words the one-line error must contain)
USAGE_ERRORS = [
    ((), "the following arguments are required: COMMAND"),  # no command at all
    (("frobnicate",), "invalid choice: 'frobnicate'"),  # unknown command
    (("run", "--threads", "four"), "argument --threads: invalid int value: 'four'"),
    (("run", "--accelerator", "gpu"), "argument --accelerator: invalid choice: 'gpu'"),
    (("check-config", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
    (("annotate", "in.jpg"), "the following arguments are required: OUTPUT"),
]


@pytest.mark.parametrize(("args", "needle"), USAGE_ERRORS)
def test_usage_errors_exit_64_with_one_line(args: tuple[str, ...], needle: str) -> None:
    proc = run_cli(*args)
    assert_clean_error(proc, EX_USAGE, needle)
    assert "usage: edgepose" in proc.stderr  # the usage line stays: it says what was expected


def test_help_and_version_still_exit_0() -> None:
    assert run_cli("--help").returncode == 0
    assert run_cli("run", "--help").returncode == 0
    assert run_cli("--version").returncode == 0


# -- annotate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["-3", "1.5"])
def test_annotate_min_score_out_of_range_is_a_config_error(score: str, squat_path: Path, tmp_path: Path) -> None:
    proc = run_cli("annotate", str(squat_path), str(tmp_path / "out.jpg"), f"--min-score={score}")
    assert_clean_error(proc, EX_CONFIG, f"--min-score {float(score)} is outside 0..1")


# -- eval ------------------------------------------------------------------------------------------


@pytest.fixture()
def ochuman(shared: Path) -> Path:
    return shared / "keypoints" / "ochuman"


def broken_annotations(ochuman: Path, tmp_path: Path, index: int, key: str, value: object) -> tuple[Path, int]:
    data = json.loads((ochuman / "test_ochuman.json").read_text())
    data["annotations"][index][key] = value
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(data))
    return path, data["annotations"][index]["id"]


# (field, bad value, what the message says about it)
BAD_ANNOTATIONS = [
    ("bbox", None, "bbox is not 4 numbers"),
    ("bbox", [1, 2, 3], "bbox is not 4 numbers"),
    ("keypoints", ["a"] * 51, "keypoints are not 51 numbers"),
    ("keypoints", "nose", "keypoints are not 51 numbers"),
    ("image_id", 99999, "image_id 99999 is not in images"),
]


@pytest.mark.parametrize(("key", "value", "needle"), BAD_ANNOTATIONS)
def test_eval_malformed_annotation_exits_66_with_its_id(ochuman: Path, tmp_path: Path, key, value, needle) -> None:
    path, ann_id = broken_annotations(ochuman, tmp_path, 1, key, value)
    proc = run_cli("eval", "--annotations", str(path), "--images", str(ochuman), "--model", "movenet_lightning_int8")
    assert_clean_error(proc, EX_NOINPUT, f"annotation id {ann_id}", needle)


def test_eval_with_no_annotated_people_says_there_is_nothing_to_evaluate(ochuman: Path, tmp_path: Path) -> None:
    data = json.loads((ochuman / "test_ochuman.json").read_text())
    data["annotations"] = []
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(data))
    proc = run_cli("eval", "--annotations", str(path), "--images", str(ochuman), "--model", "movenet_lightning_int8")
    assert_clean_error(proc, EX_NOINPUT, "nothing to evaluate", "no annotated people")
    assert "AP" not in proc.stdout


# -- config: duplicate keys, an empty source, no sinks ---------------------------------------------

# (config text, words the error must contain: the key, and both lines)
DUPLICATE_KEYS = [
    ("model:\n  threads: 2\n  threads: 4\n", "model.threads: duplicate key at lines 2 and 3"),
    ("model:\n  threads: 2\ndecoder: {}\nmodel:\n  name: x\n", "model: duplicate key at lines 1 and 4"),
    ("sinks: [stdout]\nsinks: [mqtt]\n", "sinks: duplicate key at lines 1 and 2"),
]


@pytest.mark.parametrize(("text", "needle"), DUPLICATE_KEYS)
def test_duplicate_yaml_keys_are_refused_with_both_lines(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text(text)
    assert_clean_error(run_cli("check-config", "-c", str(cfg)), EX_CONFIG, f"{cfg}:", needle)


def test_the_same_key_in_two_sections_is_not_a_duplicate(tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("source:\n  fps: 10\nmodel:\n  threads: 2\nmqtt:\n  port: 1883\nservice:\n  health:\n    port: 0\n")
    proc = run_cli("check-config", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("args", [("--source", ""), ("--source", "  "), ("--set", "source.uri=")])
def test_an_empty_source_is_refused(args: tuple[str, str], tmp_path: Path) -> None:
    # run from an empty directory: without the check it would run over the current directory
    proc = run_cli("run", *args, "--sink", "stdout", cwd=tmp_path)
    assert_clean_error(proc, EX_CONFIG, "source.uri: empty")
    assert proc.stdout == ""


@pytest.mark.parametrize("where", ["file", "override"])
def test_no_sinks_is_refused(where: str, tmp_path: Path, squat_path: Path) -> None:
    cfg = tmp_path / "none.yaml"
    cfg.write_text("sinks: []\n")
    args = ("-c", str(cfg)) if where == "file" else ("--set", "sinks=[]")
    proc = run_cli("run", *args, "--source", str(squat_path))
    assert_clean_error(proc, EX_CONFIG, "sinks: empty", "stdout, jsonl:PATH, mqtt")


# -- sources that are not files --------------------------------------------------------------------


def test_a_symlink_loop_is_called_one(tmp_path: Path) -> None:
    loop = tmp_path / "clip.mp4"
    loop.symlink_to(loop)
    assert_clean_error(run_cli("run", "--source", str(loop)), EX_NOINPUT, f"{loop} is a symlink loop")


def test_a_dangling_symlink_names_its_target(tmp_path: Path) -> None:
    link = tmp_path / "photo.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    proc = run_cli("run", "--source", str(link))
    assert_clean_error(proc, EX_NOINPUT, f"{link} is a symlink to {tmp_path / 'gone.jpg'}, which does not exist")


@pytest.mark.parametrize("name", ["clip.mp4", "photo.jpg", "frames"])
def test_a_fifo_is_called_one(name: str, tmp_path: Path) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    # (reading a FIFO nobody writes to blocks: the timeout only keeps a regression from hanging the suite)
    proc = run_cli("run", "--source", str(fifo), timeout=60)
    assert_clean_error(proc, EX_NOINPUT, f"{fifo} is a FIFO (named pipe), not a file")


def test_a_fifo_with_an_explicit_kind_is_called_one(tmp_path: Path) -> None:
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    proc = run_cli("run", "--source", str(fifo), "--set", "source.kind=video", timeout=60)
    assert_clean_error(proc, EX_NOINPUT, "is a FIFO (named pipe), not a file")


# -- a closed stdout ---------------------------------------------------------------------------------


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """The command's stdout is a pipe whose reader is gone before it writes (``| head`` that ended)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "edgepose", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("models", "list"),
        ("check-config", "--print"),
        ("run", "--source", "{squat}", "--sink", "stdout"),
    ],
)
def test_a_closed_stdout_ends_quietly(args: tuple[str, ...], squat_path: Path) -> None:
    proc = run_into_closed_pipe(*(a.format(squat=squat_path) for a in args))
    assert proc.returncode == 0, proc.stderr
    assert "BrokenPipe" not in proc.stderr and "Traceback" not in proc.stderr and "error" not in proc.stderr


def test_a_fifo_inside_a_directory_is_skipped_and_named(squat_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.bmp").write_bytes(squat_path.read_bytes())
    os.mkfifo(folder / "b.jpg")  # reading it would block: nobody writes to it
    proc = run_cli("run", "--source", str(folder), "--sink", "stdout", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert f"{folder / 'b.jpg'} is a FIFO (named pipe), not a file" in proc.stderr
