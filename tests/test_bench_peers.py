"""scripts/bench_peers.py without the peers venv: arguments, the missing-venv message, ratios and table.

The benchmark itself needs Ultralytics and MediaPipe in a venv of their own (scripts/peers-venv.sh);
everything here runs on the project's venv alone, the peers' timings stood in by tallies.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from edgepose.tools.bench import limit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_peers.py"


@pytest.fixture(scope="module")
def bp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_each_model_gets_its_own_implementation_as_peer(bp: ModuleType) -> None:
    assert bp.peer_for("yolo11n-pose_320_int8") == bp.PeerSpec("ultralytics", "Ultralytics predict", size=320)
    assert bp.peer_for("/models/yolo11n-pose_640_float32.tflite").size == 640
    assert bp.peer_for("pose_landmark_lite").complexity == 0
    assert bp.peer_for("pose_landmark_full.tflite").complexity == 1
    assert bp.peer_for("pose_landmark_heavy").complexity == 2
    assert bp.peer_for("pose_landmark_full").kind == "mediapipe"
    assert bp.peer_for("blazepose_full") == bp.peer_for("pose_landmark_full")  # the model store's name
    for model in ("movenet_lightning_int8", "yolo11n-pose_float32", "pose_landmark_tiny"):
        with pytest.raises(ValueError, match=model):
            bp.peer_for(model)


def test_a_bare_name_of_a_shared_model_file_is_that_files_path(bp: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yolo11n-pose_320_int8.tflite").write_bytes(b"")
    assert bp.model_path("yolo11n-pose_320_int8", tmp_path) == str(tmp_path / "models" / "yolo11n-pose_320_int8.tflite")
    assert bp.model_path("blazepose_lite", tmp_path) == "blazepose_lite"  # left to the model store
    assert bp.model_path("other/yolo11n-pose_320_int8", tmp_path) == "other/yolo11n-pose_320_int8"


def test_yolo_runs_on_each_frame_set_and_blazepose_on_its_own(bp: ModuleType) -> None:
    models = ["yolo11n-pose_320_int8", "pose_landmark_lite"]
    assert bp.plan(models, ("video", "pose")) == [
        ("yolo11n-pose_320_int8", "video"),
        ("yolo11n-pose_320_int8", "pose"),
        ("pose_landmark_lite", "pose"),
    ]
    assert bp.plan(models, ("video",)) == [("yolo11n-pose_320_int8", "video"), ("pose_landmark_lite", "pose")]
    assert bp.parse_args(["--yolo-frames", "pose"]).yolo_frames == ("pose",)


def test_defaults_name_yolo_and_both_blazepose_models(bp: ModuleType) -> None:
    args = bp.parse_args([])
    assert args.model_list == ["yolo11n-pose_320_int8", "pose_landmark_lite", "pose_landmark_full"]
    assert (args.threads, args.frames, args.pose_crop, args.pose_image) == (2, 100, (0, 120, 240), None)
    args = bp.parse_args(["--models", "pose_landmark_full", "--pose-crop", "10,20,300", "--seconds", "2.5"])
    assert (args.model_list, args.pose_crop, args.seconds) == (["pose_landmark_full"], (10, 20, 300), 2.5)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--models", "movenet_lightning_int8"], "no peer known"),
        (["--models", ","], "no model named"),
        (["--pose-crop", "1,2"], "X,Y,SIDE"),
        (["--pose-crop", "0,0,-5"], "SIDE > 0"),
        (["--seconds", "0"], "must be > 0"),
        (["--yolo-frames", "video,video"], "expected video, pose"),
        (["--yolo-frames", "crowd"], "expected video, pose"),
        (["--rounds", "many"], "not a number"),
    ],
)
def test_bad_arguments_are_usage_errors(bp: ModuleType, capsys, argv: list[str], said: str) -> None:
    with pytest.raises(SystemExit) as done:
        bp.parse_args(argv)
    assert done.value.code == 2
    assert said in capsys.readouterr().err


def test_a_missing_peers_venv_says_how_to_make_it(tmp_path: Path) -> None:
    venv = tmp_path / "no-venv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--peers-venv", str(venv)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 69
    assert f"no peers venv at {venv}" in done.stderr
    assert f"bash scripts/peers-venv.sh {venv}" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_peers_venv_is_refused_inside_the_repository() -> None:
    venv = ROOT / "peers-venv-here"
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "peers-venv.sh"), str(venv)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 64
    assert f"the peers venv must live outside the repository: {venv}" in done.stderr
    assert not venv.exists()


def test_a_peer_that_cannot_start_is_said_with_its_error(bp: ModuleType, tmp_path: Path) -> None:
    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("mediapipe is importable here: this checks the message where it is not")
    frames = tmp_path / "frames.npy"
    np.save(frames, np.zeros((1, 8, 8, 3), np.uint8))
    process = bp.PeerProcess(Path(sys.executable), tmp_path)  # a venv without the peers
    try:
        spec = {"kind": "mediapipe", "label": "MediaPipe Pose", "size": 0, "complexity": 0}
        with pytest.raises(bp.PeersUnavailableError, match="peer m: ModuleNotFoundError: No module named 'mediapipe'"):
            process.ask({"cmd": "setup", "name": "m", "spec": spec, "frames": str(frames), "model": "", "threads": 1})
    finally:
        process.close()
    assert process.proc.returncode == 0


def tally(frames: int, seconds: float) -> limit.Tally:
    return limit.Tally(frames=frames, seconds=seconds)


def summary(bare: int, serial: int, overlap: int, peer: int) -> dict:
    """``limit.summary`` of a stand-in setup whose variants made these frames in 2 s each."""
    setup = SimpleNamespace(
        engine_spec="real",
        accelerator="cpu",
        threads=2,
        peer_note="",
        estimator=SimpleNamespace(model_name="yolo11n-pose_320_int8"),
    )
    tallies = {
        "bare": tally(bare, 2.0),
        "serial": tally(serial, 2.0),
        "overlap": tally(overlap, 2.0),
        "peer": tally(peer, 2.0),
    }
    return limit.summary(setup, tallies)


def test_ratios_are_edgepose_over_the_bare_loop_and_over_the_peer(bp: ModuleType) -> None:
    row = bp.ratio_row(summary(bare=200, serial=192, overlap=180, peer=80), "Ultralytics predict 8.4.190", "walk x100")
    assert (row.bare_fps, row.peer_fps, row.fps) == (100.0, 40.0, {"serial": 96.0, "overlap": 90.0})
    assert row.of_bare("serial") == pytest.approx(0.96)
    assert row.of_peer("overlap") == pytest.approx(2.25)
    assert bp.verdict(row, "serial") == "0.95 of bare: met; peer: ahead"
    assert bp.verdict(row, "overlap") == "0.95 of bare: missed; peer: ahead"
    behind = bp.ratio_row(summary(bare=200, serial=100, overlap=100, peer=120), "MediaPipe", "squat x100")
    assert bp.verdict(behind) == "0.95 of bare: missed; peer: behind"


def test_the_table_has_a_row_per_model_and_variant(bp: ModuleType) -> None:
    rows = [
        bp.ratio_row(summary(200, 192, 180, 80), "Ultralytics predict 8.4.190", "walk x100"),
        bp.ratio_row(summary(100, 60, 70, 0), "MediaPipe Pose (complexity 0) 0.10.14", "squat x100"),
    ]
    lines = bp.ratio_table(rows).splitlines()
    assert len(lines) == 2 + 4
    assert lines[0].startswith("| model | frames | threads | bare fps | peer | peer fps | edgepose variant |")
    assert lines[2].split(" | ")[6:10] == ["serial", "96.0", "0.960", "2.400"]
    assert lines[3].split(" | ")[6:10] == ["overlap", "90.0", "0.900", "2.250"]
    assert lines[4].split(" | ")[6:10] == ["serial", "30.0", "0.600", "-"]  # a peer that made no frame: no ratio
    assert lines[4].endswith("0.95 of bare: missed; peer: n/a |")
