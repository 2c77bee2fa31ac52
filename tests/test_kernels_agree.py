"""The Numba kernels and their NumPy twins give the same results, including on awkward inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepose.errors import ConfigError
from edgepose.estimation.preprocess import cut, full_region
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import read_model
from edgepose.kernels import Kernels, load_kernels, numpy_kernels, reference
from edgepose.kernels.flags import FASTMATH, JIT_OPTIONS
from edgepose.sources.files import read_image

NUMBA = load_kernels("numba")
NUMPY = numpy_kernels()


def decode(k: Kernels, grids: tuple[np.ndarray, np.ndarray, np.ndarray], **kw) -> tuple[np.ndarray, ...]:
    args = {"max_poses": 10, "score_threshold": 0.2, "nms_radius": 10 / 16, "refine_steps": 5, "logits": True} | kw
    return k.posenet_decode(
        *grids, args["max_poses"], args["score_threshold"], args["nms_radius"], args["refine_steps"], args["logits"]
    )


def assert_same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    assert [x.shape for x in a] == [x.shape for x in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def golden_grids(posenet_path: Path, shared: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    engine = LiteRtEngine(read_model(posenet_path), threads=2)
    image = read_image(shared / "images" / "posenet_test_image.bmp")
    rgb = cut(image, full_region(640, 480, 641, 481), 641, 481)
    outputs = engine.invoke(rgb[None])
    h, s, m = (spec.dequantize(o)[0] for spec, o in zip(engine.outputs, outputs, strict=True))
    return h, s / 16, m / 16


def _count_nan_and_inf(values: np.ndarray) -> int:
    n = 0
    for v in values:
        if np.isnan(v) or math.isinf(v):
            n += 1
    return n


def test_the_flags_keep_nan_and_inf_checks() -> None:
    """What the flags are for: compiled with them, NaN and inf checks survive (``fastmath=True``
    lets LLVM assume neither exists and fold both checks to False: this function would return 0)."""
    values = np.array([1.0, np.nan, np.inf, 2.0, -np.inf], np.float32)
    assert numba.jit(**{**JIT_OPTIONS, "cache": False})(_count_nan_and_inf)(values) == 3


def test_every_kernel_is_compiled_with_the_shared_flags() -> None:
    from edgepose.kernels import compiled

    kernels = [v for v in vars(compiled).values() if isinstance(v, numba.core.registry.CPUDispatcher)]
    assert kernels
    for kernel in kernels:
        options = kernel.targetoptions
        assert options["nopython"] and options["nogil"], kernel.__name__
        assert set(options["fastmath"]) == set(FASTMATH), kernel.__name__
        assert kernel._cache.__class__.__name__ != "NullCache", f"{kernel.__name__} is not cached"


def test_kernel_kind_is_checked() -> None:
    assert load_kernels("numpy").kind == "numpy"
    assert load_kernels("auto").kind == "numba"  # Numba is installed here
    with pytest.raises(ConfigError):
        load_kernels("fortran")  # type: ignore[arg-type]


@pytest.mark.parametrize("max_poses", [1, 3, 20])
def test_golden_grids_agree(golden_grids, max_poses: int) -> None:
    a, b = decode(NUMBA, golden_grids, max_poses=max_poses), decode(NUMPY, golden_grids, max_poses=max_poses)
    assert len(a[2]) >= 1
    assert_same(a, b)


def test_golden_single_person_agrees(golden_grids) -> None:
    heat, shorts, _ = golden_grids
    ours = NUMBA.posenet_single(heat, shorts * 16, 16.0, True)
    np.testing.assert_allclose(ours, reference.posenet_single(heat, shorts * 16, 16.0, True), rtol=1e-5, atol=1e-4)


@st.composite
def grids(draw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random quantized-looking grids (values on a coarse lattice, as uint8 outputs are), 1x1 and up."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["random", "empty", "equal"]))
    if kind == "empty":
        heat = np.full((h, w, 17), -20.0, np.float32)
    elif kind == "equal":
        heat = np.full((h, w, 17), draw(st.sampled_from([-1.0, 0.0, 3.0])), np.float32)
    else:
        heat = (rng.integers(-40, 40, (h, w, 17)) * 0.25).astype(np.float32)
    shorts = (rng.integers(-8, 8, (h, w, 34)) * 0.25).astype(np.float32)
    mids = (rng.integers(-16, 16, (h, w, 64)) * 0.25).astype(np.float32)
    return heat, shorts, mids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    g=grids(),
    max_poses=st.integers(1, 5),
    radius=st.sampled_from([0.0, 0.5, 2.0]),
    threshold=st.sampled_from([0.1, 0.5, 0.9]),
)
def test_random_grids_agree(g, max_poses: int, radius: float, threshold: float) -> None:
    kw = {"max_poses": max_poses, "nms_radius": radius, "score_threshold": threshold}
    a, b = decode(NUMBA, g, **kw), decode(NUMPY, g, **kw)
    assert_same(a, b)
    coords, kp_scores, scores = a
    assert len(scores) <= max_poses
    assert np.all(scores[:-1] >= scores[1:])  # best first
    h, w = g[0].shape[:2]
    assert np.all((coords[..., 0] >= 0) & (coords[..., 0] <= h - 1) & (coords[..., 1] >= 0) & (coords[..., 1] <= w - 1))
    assert np.all((kp_scores >= 0) & (kp_scores <= 1))


def test_empty_heatmaps_give_no_pose() -> None:
    g = (np.full((5, 6, 17), -30.0, np.float32), np.zeros((5, 6, 34), np.float32), np.zeros((5, 6, 64), np.float32))
    for k in (NUMBA, NUMPY):
        assert len(decode(k, g)[2]) == 0


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the NumPy twin meeting inf - inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_non_finite_values_never_crash_or_escape_the_grid(bad: float, where: int) -> None:
    rng = np.random.default_rng(7)
    g = [rng.normal(0, 2, (6, 5, c)).astype(np.float32) for c in (17, 34, 64)]
    g[where][rng.random(g[where].shape) < 0.3] = bad
    for k in (NUMBA, NUMPY):
        coords, _, scores = decode(k, tuple(g))
        assert np.all(np.isfinite(coords)) and np.all((coords >= 0) & (coords <= 5))
        assert np.all(np.isfinite(scores))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_heatmap_kernels_agree(h: int, w: int, seed: int) -> None:
    heat = np.random.default_rng(seed).random((h, w, 17)).astype(np.float32)
    g = reference.gaussian_kernel(2.0)
    for name in ("heatmap_argmax", "heatmap_quarter"):
        np.testing.assert_allclose(getattr(NUMBA, name)(heat), getattr(NUMPY, name)(heat), atol=1e-6)
    np.testing.assert_allclose(NUMBA.heatmap_dark(heat, g), NUMPY.heatmap_dark(heat, g), atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 6), min_score=st.sampled_from([0.0, 0.3, 0.9]))
def test_movenet_multi_kernels_agree(seed: int, n: int, min_score: float) -> None:
    raw = np.random.default_rng(seed).random((n, 56)).astype(np.float32)
    for x, y in zip(NUMBA.movenet_multi(raw, min_score), NUMPY.movenet_multi(raw, min_score), strict=True):
        np.testing.assert_allclose(x, y)


@pytest.mark.parametrize(
    ("kind", "memory_mb", "expected"),
    [
        ("auto", 512, "numpy"),  # a Pi Zero 2 W: Numba's ~130 MB is a quarter of the board
        ("auto", 1023, "numpy"),
        ("auto", 1024, "numba"),  # a Pi 3 and up
        ("auto", None, "numba"),  # memory unknown (not Linux): as before
        ("numba", 512, "numba"),  # asked for by name: the user's choice stands
        ("numpy", 8192, "numpy"),
    ],
)
def test_auto_picks_the_kernels_by_the_boards_memory(kind, memory_mb, expected):
    assert load_kernels(kind, memory_mb=lambda: memory_mb).kind == expected


def test_the_boards_memory_is_memtotal(tmp_path):
    from edgepose.kernels import board_memory_mb

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:         439360 kB\nMemFree:           12000 kB\n")
    assert board_memory_mb(meminfo) == 429
    meminfo.write_text("garbage\n")
    assert board_memory_mb(meminfo) is None
    assert board_memory_mb(tmp_path / "absent") is None
