"""``edgepose bench --engine``: the pipeline against the bare loop of the same engine, per variant."""

from __future__ import annotations

import json

import pytest

from tests.builders.cli import run_cli
from tests.builders.paths import MOVENET


def test_engine_table_has_every_variant_of_every_engine(walking_video, tmp_path):
    out = tmp_path / "limit.json"
    args = ["--engine", "sleep:2ms,real", "--models", MOVENET, "--threads", "1", "--source", str(walking_video)]
    proc = run_cli("bench", *args, "--frames", "4", "--seconds", "0.6", "--rounds", "2", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(" | ") for line in proc.stdout.splitlines() if line.startswith(("| sleep", "| real"))]
    assert [(r[0].strip("| "), r[3]) for r in rows] == [
        (engine, variant) for engine in ("sleep:2ms", "real") for variant in ("serial", "overlap", "overlap-late")
    ]
    data = json.loads(out.read_text())
    sleep, real = data["configurations"]
    assert (sleep["accelerator"], real["accelerator"]) == ("sleep", "cpu")
    for config in (sleep, real):
        assert config["bare_fps"] > 0
        for variant in config["variants"].values():
            assert variant["frames"] > 0 and variant["ratio"] > 0
            assert 0 < variant["busy"] <= 1.02  # the engine cannot be busier than the frame period
            stages = variant["stages_ms"]
            assert stages["decode"] > 0 and stages["document"] > 0 and stages["json"] > 0 and stages["invoke"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "sleep:7"], "is not an engine"),  # a latency needs its unit
        (["--engine", "gpu"], "is not an engine"),
        (["--engine", "sleep:7ms", "--rounds", "0"], "--rounds"),
    ],
)
def test_engine_refusals(squat_path, args, message):
    proc = run_cli("bench", "--source", str(squat_path), "--frames", "2", *args)
    assert proc.returncode == 78 and message in proc.stderr


def test_busy_is_the_engines_share_of_the_frame_period():
    """``busy``: the engine's own invoke time over the frame period, a limit that does not depend on
    how fast the bare loop's sleeps wake on an idle VM (where the stand-in's bare loop runs slow)."""
    from edgepose.tools.bench.limit import Tally, busy_share, stage_means

    tally = Tally(frames=100, seconds=1.0)  # 10 ms a frame
    tally.add("own", 700.0)  # 7 ms of it on the engine
    tally.add("inference", 750.0)
    means = stage_means(tally, bare_invoke_ms=9.0)
    assert means["period"] == pytest.approx(10.0) and means["invoke"] == pytest.approx(7.0)
    assert busy_share(means) == pytest.approx(0.7)
    assert busy_share({"invoke": 1.0, "period": 0.0}) is None


class _Tripwire:
    """Stands in for every pipeline part: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the bare loop touched the pipeline ({name})")


class _CountingEngine:
    """An engine that counts its invokes and returns nothing to decode."""

    def __init__(self) -> None:
        self.invokes = 0

    def invoke(self, tensor):
        self.invokes += 1
        return []


def test_the_bare_variant_runs_the_engine_and_nothing_of_the_pipeline():
    """The limit is the engine's own loop: each frame the bare variant counts is one invoke of the
    engine, and no estimator, decoder, tracker or sink is touched (a bare variant that ran the
    pipeline made every ratio the pipeline over itself)."""
    import numpy as np

    from edgepose.tools.bench.limit import BARE, SERIAL, Setup, Tally, TimedEngine, run_variant

    engine = _CountingEngine()
    timed = TimedEngine.__new__(TimedEngine)  # its engine only: the bare loop must not need the rest
    timed.engine = engine
    s = Setup("real", "cpu", 1, _Tripwire(), [], timed, _Tripwire())
    tally = Tally()
    run_variant(s, BARE, np.zeros((1, 4, 4, 3), np.uint8), 0.02, tally)
    assert tally.frames == engine.invokes > 0

    with pytest.raises(AssertionError, match="touched the pipeline"):
        run_variant(s, SERIAL, np.zeros((1, 4, 4, 3), np.uint8), 0.02, Tally())


def test_every_variant_list_has_one_bare_loop_and_it_is_bare():
    from edgepose.tools.bench.limit import BARE, variants_for

    class Estimator:
        uses_crop_region = True

    variants = variants_for(Estimator())
    assert [v for v in variants if v.bare] == [BARE]
    assert [v.name for v in variants if not v.bare] == ["serial", "overlap", "overlap-late"]


# A stand-in for the TF example's two files with the API the peer relies on: `movenet.py` imports
# `data` by that name, builds `Interpreter(model_path=..., num_threads=4)` and offers
# `Movenet(model_name).detect(image)`.
EXAMPLE_DATA = "class BodyPart:\n    NOSE = 0\n"
EXAMPLE_MOVENET = """
import time

from data import BodyPart

def Interpreter(model_path, num_threads):
    return {"model_path": model_path, "num_threads": num_threads}

class Movenet:
    def __init__(self, model_name):
        self.interpreter = Interpreter(model_path=model_name, num_threads=4)
        self.frames = []

    def detect(self, input_image, reset_crop_region=False):
        self.frames.append(input_image.shape)
        time.sleep(0.002)  # about a real invoke's time, so the ratios are not rounded to 0
        return BodyPart.NOSE
"""


def test_the_peer_is_the_examples_own_loop_at_the_compared_thread_count(tmp_path):
    import numpy as np

    from edgepose.tools.bench.peer import load_example, make_peer

    (tmp_path / "data.py").write_text(EXAMPLE_DATA)
    (tmp_path / "movenet.py").write_text(EXAMPLE_MOVENET)
    example = load_example(tmp_path)
    peer = make_peer(example, tmp_path / "model.tflite", threads=2)
    assert peer.detector.interpreter == {"model_path": str(tmp_path / "model.tflite"), "num_threads": 2}
    assert example.Movenet("m").interpreter["num_threads"] == 4  # the module is left as it was
    images = [np.zeros((4, 6, 3), np.uint8), np.zeros((5, 7, 3), np.uint8)]
    frames, _ = peer.round(images, 0.02)
    assert frames == len(peer.detector.frames) > 0
    assert peer.detector.frames[:2] == [(4, 6, 3), (5, 7, 3)]  # the frames in turn, as a video


def test_a_peer_folder_without_the_examples_files_is_refused(tmp_path):
    from edgepose.errors import InputError
    from edgepose.tools.bench.peer import load_example

    (tmp_path / "data.py").write_text(EXAMPLE_DATA)
    with pytest.raises(InputError, match=r"movenet\.py not found"):
        load_example(tmp_path)


def test_the_table_gives_the_ratio_to_the_peer_or_says_why_there_is_none(walking_video, tmp_path):
    (tmp_path / "data.py").write_text(EXAMPLE_DATA)
    (tmp_path / "movenet.py").write_text(EXAMPLE_MOVENET)
    out = tmp_path / "limit.json"
    args = ["--engine", "real,sleep:2ms", "--models", MOVENET, "--threads", "1", "--source", str(walking_video)]
    args += ["--peer", str(tmp_path), "--frames", "3", "--seconds", "0.5", "--rounds", "2", "--json", str(out)]
    proc = run_cli("bench", *args)
    assert proc.returncode == 0, proc.stderr
    real, sleep = json.loads(out.read_text())["configurations"]
    assert real["peer_fps"] > 0 and real["peer_note"] == ""
    assert all(v["vs_peer"] > 0 for v in real["variants"].values())
    assert sleep["peer_fps"] is None and sleep["peer_note"] == "n/a (CPU only)"
    assert "peer" not in real["variants"]  # the peer is a column, not a pipeline variant
    no_peer = run_cli("bench", *args[:8], "--frames", "2", "--seconds", "0.2", "--rounds", "1")
    assert no_peer.returncode == 0 and "| no --peer |" in no_peer.stdout


def test_a_two_stage_model_is_benchmarked_on_its_landmark_engine(squat_path, tmp_path):
    """BlazePose: the bare loop and the stand-in run the landmark model; the detector stays in the pipeline."""
    out = tmp_path / "limit.json"
    args = ["--engine", "sleep:2ms", "--models", "pose_landmark_lite.tflite", "--source", str(squat_path)]
    proc = run_cli("bench", *args, "--frames", "2", "--seconds", "0.4", "--rounds", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (config,) = json.loads(out.read_text())["configurations"]
    assert config["model"] == "pose_landmark_lite" and config["bare_fps"] > 0
    assert all(v["frames"] > 0 and v["people"] == 1.0 for v in config["variants"].values())


def test_a_stand_in_without_a_person_to_record_is_refused(tmp_path):
    import cv2
    import numpy as np

    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.zeros((240, 320, 3), np.uint8))
    args = ["--engine", "sleep:2ms", "--models", "pose_landmark_lite.tflite", "--source", str(empty)]
    proc = run_cli("bench", *args, "--frames", "1", "--seconds", "0.2", "--rounds", "1")
    assert proc.returncode == 66
    assert "found no person" in proc.stderr and "a person in view" in proc.stderr
