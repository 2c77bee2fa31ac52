"""``models inspect`` on every shared model, and ``models list``: read from the flatbuffer, no interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgepose.modelstore.info import inspect_model
from edgepose.modelstore.manifest import load_manifest
from tests.builders.cli import run_cli
from tests.builders.paths import SHARED

SHARED_MODELS = sorted((SHARED / "models").glob("*.tflite"))


@pytest.mark.parametrize("path", SHARED_MODELS, ids=lambda p: p.name)
def test_inspect_every_shared_model(path: Path) -> None:
    out = run_cli("models", "inspect", str(path), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    tpu = path.stem.endswith("_edgetpu")
    assert info["edgetpu_compiled"] is tpu
    assert ("edgetpu-custom-op" in info["custom_ops"]) is tpu
    (inp,) = info["inputs"]
    if path.name.startswith("yolo"):  # YOLO-pose: float32 NCHW input, one [1, 56, anchors] output
        size = int(path.name.split("_")[1])
        assert inp["shape"] == [1, 3, size, size] and inp["dtype"] == "float32"
        assert info["format"] == "yolo_pose" and info["decoder_available"]
        assert [o["shape"] for o in info["outputs"]] == [[1, 56, 21 * (size // 32) ** 2]]
        return
    if path.name.startswith("pose_"):  # BlazePose: float32 NHWC; the landmark models decode, the detector is a stage
        assert inp["dtype"] == "float32"
        if path.name == "pose_detection.tflite":
            assert inp["shape"] == [1, 224, 224, 3] and info["format"] == "blazepose_detector"
            assert [o["shape"] for o in info["outputs"]] == [[1, 2254, 12], [1, 2254, 1]]
        else:
            assert inp["shape"] == [1, 256, 256, 3] and info["format"] == "blazepose" and info["decoder_available"]
            assert info["ignored_outputs"] == [o["name"] for o in info["outputs"] if o["shape"] == [1, 256, 256, 1]]
        return
    assert inp["dtype"] == "uint8"
    if path.name.startswith("movenet"):
        assert inp["shape"] == [1, 192, 192, 3] and info["format"] == "movenet_singlepose"
        assert [o["shape"] for o in info["outputs"]] == [[1, 1, 17, 3]] and info["decoder_available"]
    else:
        h, w = (int(n) for n in path.name.split("_")[4:6])  # posenet_mobilenet_v1_075_<h>_<w>_16_...
        assert inp["shape"] == [1, h, w, 3] and info["format"] == "posenet_coral"
        assert inp["scale"] == pytest.approx(1 / 128) and inp["zero_point"] == 128
        assert "PosenetDecoderOp" in info["custom_ops"]
        # what edgepose runs once the decoder op is cut off: heatmaps, short and mid offsets, stride 16
        assert [o["shape"][-1] for o in info["runs_as"]] == [17, 34, 64]
        assert all(o["shape"][1:3] == [(h - 1) // 16 + 1, (w - 1) // 16 + 1] for o in info["runs_as"])
    assert info["quantization"].startswith("Edge TPU-compiled" if tpu and "posenet" in path.name else "int8")


def test_inspect_text_by_manifest_name() -> None:
    out = run_cli("models", "inspect", "movenet_lightning_int8_edgetpu")
    assert out.returncode == 0, out.stderr
    assert "edge tpu:      yes" in out.stdout and "custom ops:    edgetpu-custom-op" in out.stdout
    assert "input:         serving_default_input:0 [1, 192, 192, 3] uint8" in out.stdout


def test_inspect_a_non_model_is_exit_66(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    out = run_cli("models", "inspect", str(junk))
    assert out.returncode == 66 and "is not a TFLite model" in out.stderr and "Traceback" not in out.stderr


def test_inspect_library_matches_manifest_inputs() -> None:
    manifest = load_manifest()
    checked = set()
    for entry in manifest.values():
        path = SHARED / "models" / entry.file
        if entry.kind != "sample" and path.exists():
            info = inspect_model(path)
            shape = info.inputs[0].shape
            size = shape[2:4] if shape[1] == 3 else shape[1:3]  # NCHW (today's YOLO exports) or NHWC
            assert tuple(size) == entry.input, entry.name
            assert info.edgetpu_compiled is entry.edgetpu and info.format == entry.format
            checked.add(entry.kind)
    assert checked == {"model", "detector", "export"}


def test_list_shows_known_and_present() -> None:
    out = run_cli("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["movenet_lightning_int8"]["present"] == str(
        SHARED / "models" / "movenet_single_pose_lightning_ptq.tflite"
    )
    assert rows["movenet_thunder_int8"]["present"] is None and rows["movenet_thunder_int8"]["sha256"] is None
    for name in (
        "movenet_lightning_f16",
        "movenet_thunder_f16",
        "movenet_thunder_int8_tfhub",
        "movenet_multipose_lightning",
        "posenet_257",
        "posenet_mobilenet_v1_075_353x481_edgetpu",
        "posenet_mobilenet_v1_075_721x1281_edgetpu",
    ):
        assert rows[name]["url"].startswith("https://"), name
    text = run_cli("models", "list").stdout
    assert "movenet_thunder_int8" in text and "- (edgepose models fetch)" in text


def test_manifest_checksums_match_the_shared_files() -> None:
    import hashlib

    for entry in load_manifest().values():
        for folder in ("models", "images"):
            path = SHARED / folder / entry.file
            if entry.kind == "export":  # each user's export is a file of its own: nothing to pin
                assert entry.sha256 == "" and entry.url == "", entry.name
            elif path.exists():
                assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256, entry.name


def test_inspect_names_the_licence_of_a_yolo_export_from_its_own_metadata(tmp_path: Path) -> None:
    shared = SHARED / "models" / "yolo11n-pose_320_int8.tflite"
    out = run_cli("models", "inspect", "yolo11n_pose_320_int8")  # by manifest name
    assert out.returncode == 0, out.stderr
    assert "licence:       AGPL-3.0 License (https://ultralytics.com/license)" in out.stdout
    assert (
        "model:         Ultralytics YOLO11n-pose model" in out.stdout
        and "manifest:      yolo11n_pose_320_int8" in out.stdout
    )
    # a user's export under another name: the licence still comes from the file, not the manifest
    renamed = tmp_path / "my_pose.tflite"
    renamed.write_bytes(shared.read_bytes())
    info = json.loads(run_cli("models", "inspect", str(renamed), "--json").stdout)
    assert info["license"].startswith("AGPL-3.0") and info["manifest_name"] is None and info["format"] == "yolo_pose"
    # without the appended metadata (the flatbuffer alone) and under another name, no licence is claimed
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(shared.read_bytes()[: shared.read_bytes().rfind(b"PK\x03\x04")])
    info = json.loads(run_cli("models", "inspect", str(bare), "--json").stdout)
    assert info["license"] is None and info["description"] is None and info["format"] == "yolo_pose"


def test_inspect_a_blazepose_model_by_name() -> None:
    out = run_cli("models", "inspect", "blazepose_full")
    assert out.returncode == 0, out.stderr
    assert "format:        blazepose\n" in out.stdout and "licence:       Apache-2.0" in out.stdout
    assert "ignored:       Identity_2" in out.stdout


def test_list_knows_blazepose_and_explains_yolo() -> None:
    out = run_cli("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    for name in ("blazepose_lite", "blazepose_full", "blazepose_heavy"):
        assert rows[name]["requires"] == ["blazepose_detector"] and rows[name]["format"] == "blazepose"
        assert rows[name]["url"].startswith("https://storage.googleapis.com/mediapipe-assets/")
    assert rows["blazepose_detector"]["present"] == str(SHARED / "models" / "pose_detection.tflite")
    for name in ("yolo11n_pose_320_int8", "yolo11n_pose_640_float32"):
        assert rows[name]["kind"] == "export" and rows[name]["url"] is None and rows[name]["license"] == "AGPL-3.0"
    text = run_cli("models", "list").stdout
    assert "AGPL-3.0: weights edgepose never downloads" in text


def test_running_a_missing_yolo_entry_says_how_to_export_it(tmp_path: Path) -> None:
    env = {"EDGEPOSE_MODEL_DIRS": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = run_cli("models", "inspect", "yolo11n_pose_640_int8", env=env)
    assert out.returncode == 66 and "Traceback" not in out.stderr
    assert "not in any model directory" in out.stderr and "its weights are AGPL-3.0" in out.stderr
    assert "yolo export model=yolo11n-pose.pt format=tflite imgsz=640 int8=True" in out.stderr


def test_inspect_tells_the_manifest_file_from_another_build_of_the_same_name(tmp_path: Path) -> None:
    out = run_cli("models", "inspect", "blazepose_lite")
    assert "manifest:      blazepose_lite (checksum matches)" in out.stdout
    other = tmp_path / "pose_landmark_full.tflite"  # the lite model's bytes under the full model's name
    other.write_bytes((SHARED / "models" / "pose_landmark_lite.tflite").read_bytes())
    out = run_cli("models", "inspect", str(other))
    assert out.returncode == 0, out.stderr
    assert "manifest:      blazepose_full (checksum differs)" in out.stdout
    info = json.loads(run_cli("models", "inspect", str(other), "--json").stdout)
    assert info["manifest_checksum"] == "differs" and info["sha256"] == load_manifest()["blazepose_lite"].sha256
