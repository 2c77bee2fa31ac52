"""``jsonl:PATH`` appends; ``jsonl:PATH?mode=w`` starts the file afresh. Recording twice into one file
and drawing from it says what happened and what to do, instead of only "a second document"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders.cli import assert_clean_error, run_cli
from tests.builders.documents import parse_documents

EX_NOINPUT, EX_CONFIG = 66, 78


def record(source: Path, sink: str) -> None:
    proc = run_cli("run", "--source", str(source), "--sink", sink)
    assert proc.returncode == 0, proc.stderr


def test_appending_twice_then_annotating_explains_the_conflict(squat_path: Path, tmp_path: Path) -> None:
    poses = tmp_path / "poses.jsonl"
    record(squat_path, f"jsonl:{poses}")
    record(squat_path, f"jsonl:{poses}")  # the README's example, run a second time
    assert len(parse_documents(poses.read_text())) == 2
    proc = run_cli("annotate", str(squat_path), str(tmp_path / "out.jpg"), "--from-jsonl", str(poses))
    assert_clean_error(proc, EX_NOINPUT, f"{poses}:2: a second document for frame 0")
    assert "more than one run" in proc.stderr and f"jsonl:{poses}?mode=w" in proc.stderr


def test_mode_w_starts_the_file_afresh(squat_path: Path, tmp_path: Path) -> None:
    poses = tmp_path / "poses.jsonl"
    record(squat_path, f"jsonl:{poses}")
    record(squat_path, f"jsonl:{poses}?mode=w")
    (document,) = parse_documents(poses.read_text())
    assert document["frame"] == 0
    assert [p.name for p in tmp_path.iterdir() if "?" in p.name] == []  # the option is not part of the name
    proc = run_cli("annotate", str(squat_path), str(tmp_path / "out.jpg"), "--from-jsonl", str(poses))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.jpg").stat().st_size > 0


def test_mode_a_is_the_default_made_explicit(squat_path: Path, tmp_path: Path) -> None:
    poses = tmp_path / "poses.jsonl"
    record(squat_path, f"jsonl:{poses}?mode=a")
    record(squat_path, f"jsonl:{poses}?mode=a")
    assert len(parse_documents(poses.read_text())) == 2


@pytest.mark.parametrize(
    ("sink", "needle"),
    [
        ("jsonl:poses.jsonl?mode=x", "mode must be a (append) or w (start afresh)"),  # unknown mode
        ("jsonl:poses.jsonl?flush=1", "unknown option 'flush'"),  # unknown option
        ("jsonl:?mode=w", "is not a sink"),  # no path
    ],
)
def test_bad_jsonl_options_are_config_errors(sink: str, needle: str, tmp_path: Path) -> None:
    assert_clean_error(run_cli("check-config", "--set", f"sinks=['{sink}']", cwd=tmp_path), EX_CONFIG, needle)
