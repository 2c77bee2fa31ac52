"""Cutting Coral's PosenetDecoderOp off the real PoseNet models (CPU and Edge TPU), in memory and on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.inference.modelfile import custom_ops_of, read_model
from edgepose.inference.runtime import import_runtime
from edgepose.inference.surgery import (
    POSENET_DECODER_OP,
    read_decoder_options,
    strip_posenet_decoder,
)
from tests.builders.cli import run_cli
from tests.builders.paths import POSENET_TPU

OPTIONS = {"max_detections": 20, "score_threshold": pytest.approx(0.2), "nms_radius": 10.0, "stride": 16}
OUTPUTS = ("float_heatmaps", "float_short_offsets", "float_mid_offsets")


def test_stock_litert_refuses_the_original_model(posenet_path: Path) -> None:
    interpreter = import_runtime().Interpreter(model_content=posenet_path.read_bytes())
    with pytest.raises(RuntimeError, match="custom op"):
        interpreter.allocate_tensors()


def test_stripped_cpu_model_runs_on_stock_litert(posenet_path: Path) -> None:
    stripped = strip_posenet_decoder(posenet_path.read_bytes(), posenet_path)
    assert stripped.options == OPTIONS
    assert stripped.output_names == OUTPUTS
    assert custom_ops_of(stripped.content) == ()
    interpreter = import_runtime().Interpreter(model_content=stripped.content, num_threads=2)
    interpreter.allocate_tensors()
    details = interpreter.get_output_details()
    assert [tuple(d["shape"]) for d in details] == [(1, 31, 41, 17), (1, 31, 41, 34), (1, 31, 41, 64)]
    assert all(d["dtype"] == np.uint8 and d["quantization"][0] > 0 for d in details)  # each its own scale
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.zeros((1, 481, 641, 3), np.uint8))
    interpreter.invoke()


def test_edgetpu_model_keeps_its_edgetpu_op(models_dir: Path) -> None:
    path = models_dir / POSENET_TPU
    stripped = strip_posenet_decoder(path.read_bytes(), path)
    assert stripped.options == OPTIONS
    assert stripped.output_names == OUTPUTS
    assert custom_ops_of(stripped.content) == ("edgetpu-custom-op",)


def test_read_model_strips_in_memory_and_keeps_what_the_file_had(posenet_path: Path, models_dir: Path) -> None:
    model = read_model(posenet_path)
    assert POSENET_DECODER_OP in model.custom_ops
    assert model.decoder_options == OPTIONS
    assert custom_ops_of(model.content) == ()
    tpu = read_model(models_dir / POSENET_TPU)
    assert tpu.edgetpu_compiled and POSENET_DECODER_OP in tpu.custom_ops
    assert custom_ops_of(tpu.content) == ("edgetpu-custom-op",)


def test_options_read_without_rewriting(posenet_path: Path, movenet_path: Path) -> None:
    assert read_decoder_options(posenet_path.read_bytes()) == OPTIONS
    assert read_model(posenet_path).decoder_options == OPTIONS  # read with the file, once
    assert read_model(movenet_path).decoder_options == {}
    assert read_model(movenet_path).decoder_options == {}


def test_model_without_the_op_is_refused(movenet_path: Path) -> None:
    with pytest.raises(InputError, match="no PosenetDecoderOp"):
        strip_posenet_decoder(movenet_path.read_bytes(), movenet_path)


def test_cli_strip_writes_a_runnable_model(posenet_path: Path, movenet_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "posenet_stripped.tflite"
    proc = run_cli("models", "strip", str(posenet_path), str(out))
    assert proc.returncode == 0, proc.stderr
    assert "stride=16" in proc.stdout
    assert custom_ops_of(out.read_bytes()) == ()
    assert read_model(out).custom_ops == ()  # nothing left to strip
    refused = run_cli("models", "strip", str(movenet_path), str(tmp_path / "x.tflite"))
    assert refused.returncode == 66
    assert "no PosenetDecoderOp" in refused.stderr and "Traceback" not in refused.stderr


def test_the_estimator_decodes_with_the_options_read_with_the_file(posenet_path: Path) -> None:
    from edgepose.app import build_estimator
    from edgepose.config import load_config

    config = load_config(None, [f"model.name={posenet_path}", "model.accelerator=cpu"])
    loaded = build_estimator(config)
    try:
        assert loaded.estimator.model_options == OPTIONS
    finally:
        loaded.estimator.engine.close()
