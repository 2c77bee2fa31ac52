"""Sparse weights stored dense: the same numbers, one copy fewer (:mod:`edgepose.inference.densify`).

What is checked: TFLite's sparsity format decodes to the dense array it stands for (rows, a
permuted traversal, refusals); the real person detector rewritten has no ``DENSIFY`` left, the same
inputs and outputs and the same outputs (to the bit off ARM); the dense copy is made once by a
child process and kept in the model cache, a damaged copy is not used, and every way of not making
it loads the model as it is; ``model.sparse_weights`` chooses which the daemon loads.
"""

from __future__ import annotations

import logging
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.inference.densify import (
    DENSE,
    SPARSE_CSR,
    cached_name,
    dense_cache,
    dense_model,
    dense_values,
    densify,
    run_child,
    sparse_weight_count,
    wants_dense,
)
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.flatbuffer import inputs_and_outputs
from edgepose.inference.modelfile import read_model
from edgepose.inference.spill import spill_directory

pytestmark = pytest.mark.pi  # apt's NumPy 1.24 decodes the same; the child runs apt's Python
ARM = platform.machine().lower().startswith(("arm", "aarch64"))


def csr(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments, indices and values of each row's non-zeros (the last axis sparse)."""
    rows = dense.reshape(-1, dense.shape[-1])
    segments, indices, values = [0], [], []
    for row in rows:
        (where,) = np.nonzero(row)
        indices.extend(where)
        values.extend(row[where])
        segments.append(len(indices))
    return np.array(segments), np.array(indices), np.array(values, dense.dtype)


def test_rows_with_a_sparse_last_dimension_decode_to_the_dense_array() -> None:
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((5, 1, 1, 7)).astype(np.float16)
    dense[rng.random(dense.shape) < 0.6] = 0
    dense[2] = 0  # a row with nothing stored
    segments, indices, values = csr(dense)
    dims = [(DENSE, 5, None, None), (DENSE, 1, None, None), (DENSE, 1, None, None), (SPARSE_CSR, 0, segments, indices)]
    out = dense_values(dense.shape, [0, 1, 2, 3], dims, values)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, dense)


def test_a_permuted_traversal_is_put_back_in_the_tensors_order() -> None:
    dense = np.array([[0, 2, 0], [1, 0, 3]], np.float32)  # shape (2, 3), stored column by column
    segments, indices, values = csr(np.ascontiguousarray(dense.T))
    dims = [(DENSE, 3, None, None), (SPARSE_CSR, 0, segments, indices)]
    np.testing.assert_array_equal(dense_values(dense.shape, [1, 0], dims, values), dense)


@pytest.mark.parametrize(
    ("order", "dims", "values", "says"),
    [
        ([0, 1, 2], [(DENSE, 2, None, None)] * 3, np.zeros(8), "traversal order"),  # block-sparse
        ([0, 1], [(DENSE, 3, None, None), (DENSE, 3, None, None)], np.zeros(6), "dense dimension of 3"),
        ([0, 1], [(DENSE, 2, None, None), (SPARSE_CSR, 0, np.array([0, 1]), np.array([0]))], np.zeros(1), "segments"),
        (
            [0, 1],
            [(DENSE, 2, None, None), (SPARSE_CSR, 0, np.array([0, 1, 2]), np.array([0, 3]))],
            np.zeros(2),
            "index",
        ),
        (
            [0, 1],
            [(DENSE, 2, None, None), (SPARSE_CSR, 0, np.array([0, 1, 2]), np.array([0, 1]))],
            np.zeros(3),
            "values",
        ),
        ([0, 1], [(DENSE, 2, None, None), (7, 0, None, None)], np.zeros(3), "format 7"),
    ],
)
def test_a_sparsity_it_cannot_decode_is_refused(order: list[int], dims: list, values: np.ndarray, says: str) -> None:
    with pytest.raises(InputError, match=says):
        dense_values((2, 3), order, dims, values)


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> Path:
    return models_dir / "pose_detection.tflite"


@pytest.fixture(scope="module")
def dense_detector(detector: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dense") / "pose_detection.tflite"
    path.write_bytes(densify(detector.read_bytes()))
    return path


def test_the_detector_has_sparse_weights_and_movenet_none(detector: Path, movenet_path: Path) -> None:
    assert sparse_weight_count(detector.read_bytes()) == 38
    assert sparse_weight_count(movenet_path.read_bytes()) == 0


def test_the_dense_detector_computes_the_same_outputs_to_the_bit(
    detector: Path, dense_detector: Path, squat_rgb: np.ndarray
) -> None:
    content = dense_detector.read_bytes()
    assert sparse_weight_count(content) == 0
    assert inputs_and_outputs(content) == inputs_and_outputs(detector.read_bytes())
    sparse, dense = LiteRtEngine(read_model(detector), threads=2), LiteRtEngine(read_model(dense_detector), threads=2)
    _, h, w, _ = sparse.input.shape
    rows = np.linspace(0, squat_rgb.shape[0] - 1, h).astype(int)
    cols = np.linspace(0, squat_rgb.shape[1] - 1, w).astype(int)
    tensor = (squat_rgb[rows][:, cols][None].astype(np.float32) / 127.5 - 1.0).astype(np.float32)
    for ours, theirs in zip(dense.invoke(tensor), sparse.invoke(tensor), strict=True):
        if ARM:  # XNNPACK runs the sparse model with its sparse kernels: another order of sums
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
        else:
            np.testing.assert_array_equal(ours, theirs)
    assert max(o.max() for o in sparse.invoke(tensor)) > 0  # the image gave the detector something to score


def on_disk(tmp_path: Path) -> Path:
    if spill_directory([tmp_path]) is None:
        pytest.skip(f"{tmp_path} is not on a disk: no dense copy is kept there")
    return tmp_path


def test_the_copy_is_made_once_by_a_child_and_kept_in_the_cache(detector: Path, tmp_path: Path) -> None:
    cache = on_disk(tmp_path) / "cache"
    made: list[Path] = []

    def child(source: Path, destination: Path) -> None:
        made.append(source)
        run_child(source, destination)

    original = read_model(detector)
    first = dense_model(original, str(cache), child)
    second = dense_model(original, str(cache), child)
    assert made == [detector]
    assert first.path == second.path == cache / "dense" / cached_name(original)
    assert first.on_disk and sparse_weight_count(first.content) == 0
    assert sorted(p.name for p in (cache / "dense").iterdir()) == [first.path.name]  # no part file left


def test_a_damaged_copy_is_not_used_and_is_made_again_next_time(
    detector: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = on_disk(tmp_path)
    original = read_model(detector)
    target = cache / "dense" / cached_name(original)
    target.parent.mkdir()
    target.write_bytes(detector.read_bytes()[: 1 << 16])  # cut short
    with caplog.at_level(logging.WARNING):
        assert dense_model(original, str(cache), run_child) is original
    assert "ignoring the cached dense copy" in caplog.text
    assert not target.exists()
    assert dense_model(original, str(cache), run_child).path == target


def test_a_copy_that_is_not_of_this_model_is_not_used(detector: Path, movenet_path: Path, tmp_path: Path) -> None:
    cache = on_disk(tmp_path)
    original = read_model(detector)
    target = cache / "dense" / cached_name(original)
    target.parent.mkdir()
    target.write_bytes(movenet_path.read_bytes())
    assert dense_model(original, str(cache), run_child) is original


def test_when_the_child_fails_the_model_loads_as_it_is(
    detector: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = on_disk(tmp_path)

    def failing(source: Path, destination: Path) -> None:
        destination.write_bytes(b"half")
        raise OSError("the rewrite failed: ModuleNotFoundError: No module named 'ai_edge_litert'")

    original = read_model(detector)
    with caplog.at_level(logging.INFO):
        assert dense_model(original, str(cache), failing) is original
    assert "stay sparse: the rewrite failed: ModuleNotFoundError" in caplog.text
    assert list((cache / "dense").iterdir()) == []  # nothing half-written is left to be taken next time


def test_no_cache_directory_loads_the_model_as_it_is(detector: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    assert dense_cache(str(blocker)) is None
    assert dense_model(read_model(detector), str(blocker), run_child).on_disk


def test_a_model_without_sparse_weights_is_left_alone(movenet_path: Path, tmp_path: Path) -> None:
    def never(source: Path, destination: Path) -> None:
        raise AssertionError("a model without sparse weights was rewritten")

    model = read_model(movenet_path)
    assert dense_model(model, str(tmp_path / "cache"), never) is model
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("choice", "machine", "memory", "dense"),
    [
        ("dense", "aarch64", 8192, True),
        ("sparse", "x86_64", 512, False),
        ("auto", "x86_64", 8192, True),  # XNNPACK has no sparse kernels there: dense costs nothing
        ("auto", "aarch64", 512, True),  # a Pi Zero 2 W: memory first
        ("auto", "armv7l", 512, True),
        ("auto", "aarch64", 4096, False),  # a Pi 4 or 5: XNNPACK's sparse kernels
        ("auto", "aarch64", None, False),
    ],
)
def test_auto_loads_dense_copies_off_arm_and_on_small_arm_boards(
    choice: str, machine: str, memory: int | None, dense: bool
) -> None:
    assert wants_dense(choice, machine, lambda: memory) is dense


@pytest.mark.parametrize("choice", ["dense", "sparse"])
def test_the_daemons_detector_loads_the_copy_the_setting_asks_for(
    models_dir: Path, tmp_path: Path, choice: str
) -> None:
    from edgepose.app import build_estimator
    from edgepose.config.load import load_config
    from edgepose.estimation.blazepose import BlazePoseEstimator

    cache = on_disk(tmp_path)
    overrides = [f"model.name={models_dir / 'pose_landmark_lite.tflite'}", "model.threads=1"]
    config = load_config(None, [*overrides, f"model.cache_dir={cache}", f"model.sparse_weights={choice}"])
    loaded = build_estimator(config)
    try:
        assert isinstance(loaded.estimator, BlazePoseEstimator)
        engine = loaded.estimator.detector.engine
        if choice == "dense":
            assert engine.model.path.parent == cache / "dense"
        else:
            assert engine.model.path == models_dir / "pose_detection.tflite"
            assert not (cache / "dense").exists()
        assert engine.released > 0  # the weights were packed, and the file's pages given back
    finally:
        loaded.estimator.engine.close()


def test_the_child_command_says_what_went_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.tflite"
    bad.write_bytes(b"\0" * 64)
    command = [sys.executable, "-m", "edgepose.inference.densify"]
    usage = subprocess.run(command, capture_output=True, text=True, check=False)
    assert usage.returncode == 64 and "usage" in usage.stderr
    broken = subprocess.run([*command, str(bad), str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert broken.returncode != 0 and broken.stderr.startswith("edgepose: ")
    assert not (tmp_path / "out").exists() or (tmp_path / "out").stat().st_size == 0
