"""Decoders fed arbitrary outputs of the right shape: a list of sound poses, or a FrameError.

A model's output is input like any other: a float model can emit NaN, inf or 1e38; a quantized one
any code, with any scale and zero point the engine accepts at load (and a float output may state a
quantization too). Whatever arrives, a decoder returns poses a tracker, the plausibility gate and the JSON
writer can take (finite keypoints, scores in [0, 1]), or refuses the frame with a
:class:`~edgepose.errors.FrameError` that the pipeline counts. Any other exception would end the
daemon. Every format is run with both kernel sets (Numba and the NumPy twins).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder, plausibility
from edgepose.documents.poses import Stamp, encode, to_document
from edgepose.errors import FrameError
from edgepose.estimation.preprocess import Region
from edgepose.inference.engine import TensorSpec, quantization_problem
from edgepose.pose import FrameResult, Pose, Timing
from edgepose.tracking.tracker import PoseTracker, keypoint_similarity

F32, U8, I8 = np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.int8)
GRID = (5, 6)  # a small PoseNet / heatmap grid keeps each example fast


@dataclass(frozen=True)
class Model:
    """A model's output specs and input spec, and the format :func:`choose_decoder` must pick."""

    format: str
    outputs: tuple[TensorSpec, ...]
    input: TensorSpec


def model(fmt: str, dtype: np.dtype, heads: Sequence[tuple[str, tuple[int, ...]]], in_hw: tuple[int, int]) -> Model:
    """The outputs' quantization is drawn per example (:func:`quantizations`)."""
    outputs = tuple(TensorSpec(name, i, shape, dtype) for i, (name, shape) in enumerate(heads))
    return Model(fmt, outputs, TensorSpec("input", 0, (1, *in_hw, 3), U8))


def grid(channels: int) -> tuple[int, ...]:
    return (1, *GRID, channels)


POSENET_IN = ((GRID[0] - 1) * 16 + 1, (GRID[1] - 1) * 16 + 1)
MODELS = {
    f"{m.format} {m.outputs[0].dtype}": m
    for dtype in (F32, U8, I8)
    for m in (
        model("movenet_singlepose", dtype, [("keypoints", (1, 1, 17, 3))], (192, 192)),
        model("movenet_multipose", dtype, [("poses", (1, 6, 56))], (256, 160)),
        model(
            "posenet_coral",
            dtype,
            [("float_heatmaps", grid(17)), ("float_short_offsets", grid(34)), ("float_mid_offsets", grid(64))],
            POSENET_IN,
        ),
        model(
            "posenet_tf",
            dtype,
            [
                ("heatmaps", grid(17)),
                ("offsets", grid(34)),
                ("displacement_fwd", grid(32)),
                ("displacement_bwd", grid(32)),
            ],
            POSENET_IN,
        ),
        model("posenet_single", dtype, [("heatmaps", grid(17)), ("offsets", grid(34))], POSENET_IN),
        model("heatmap", dtype, [("heatmaps", grid(17))], (256, 192)),
    )
}
MODELS.update(
    {
        f"heatmap nchw {dtype}": model("heatmap", dtype, [("heatmaps", (1, 17, *GRID))], (256, 192))
        for dtype in (F32, U8, I8)
    }
)


def values(dtype: np.dtype) -> st.SearchStrategy:
    """Every value the dtype holds: for float32 NaN, ±inf, subnormals and the extremes included."""
    if dtype == F32:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


def outputs_of(m: Model) -> st.SearchStrategy[list[np.ndarray]]:
    return st.tuples(*(hnp.arrays(o.dtype, o.shape, elements=values(o.dtype)) for o in m.outputs)).map(list)


regions = st.builds(
    Region,
    st.floats(-2000, 2000),
    st.floats(-2000, 2000),
    st.floats(1, 5000),
    st.floats(1, 5000),
)


def quantizations(dtype: np.dtype) -> st.SearchStrategy[tuple[float, int] | None]:
    """(scale, zero point) of an output, among those the engine accepts (``quantization_problem``).

    Integer outputs always have one; a float output usually none, but a model may state one.
    """
    if dtype == F32:
        codes = st.just(0)
    else:
        info = np.iinfo(dtype)
        codes = st.integers(int(info.min), int(info.max))
    stated = st.tuples(st.floats(1e-30, 1e36), codes).filter(
        lambda q: quantization_problem(TensorSpec("out", 0, (1,), dtype, *q)) is None
    )
    return st.one_of(st.none(), stated) if dtype == F32 else stated


def with_quantization(m: Model, stated: Sequence[tuple[float, int] | None]) -> tuple[TensorSpec, ...]:
    return tuple(
        dataclasses.replace(o, scale=q[0], zero_point=q[1]) if q else o for o, q in zip(m.outputs, stated, strict=True)
    )


CONFIGS = {
    (kind, refine): DecoderConfig(kernel=kind, heatmap_refine=refine)  # type: ignore[arg-type]
    for kind in ("numba", "numpy")
    for refine in ("argmax", "quarter", "dark")
}
CASES = [
    (kind, refine, name)
    for kind, refine in CONFIGS
    for name, m in MODELS.items()
    if refine == "dark" or m.format == "heatmap"  # the refinement matters to heatmap models only
]


def sound(pose: Pose) -> None:
    """What the tracker, the gate and the documents rely on (the :class:`Pose` contract)."""
    kp = pose.keypoints
    assert kp.shape == (17, 3) and np.isfinite(kp).all(), kp
    assert ((kp[:, 2] >= 0) & (kp[:, 2] <= 1)).all(), kp[:, 2]
    assert np.isfinite(pose.score) and 0 <= pose.score <= 1, pose.score
    assert np.isfinite(pose.box).all(), pose.box


def downstream(poses: list[Pose]) -> None:
    """The stages after the decoder: the plausibility gate, a tracker with smoothing, a document."""
    plausibility.check(np.array([p.keypoints for p in poses]).reshape(-1, 17, 3))
    tracker = PoseTracker(keypoint_similarity(), 0.2)
    tracked: list[Pose] = []
    for t in (0.0, 0.04):  # the second frame matches the first's tracks and smooths them
        tracked = tracker.update(poses, t, 640, 480)
        for pose in tracked:
            sound(pose)
    result = FrameResult(0, 0.0, 0.04, 640, 480, "cam0", tuple(tracked), Timing())
    encode(to_document(result, Stamp("device", "model", "cpu")))


@pytest.mark.parametrize(("kind", "refine", "name"), CASES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_any_output_gives_sound_poses_or_a_frame_error(kind: str, refine: str, name: str, data) -> None:
    m = MODELS[name]
    stated = data.draw(st.tuples(*(quantizations(o.dtype) for o in m.outputs)), "quantization")
    decoder = choose_decoder(FORMATS, with_quantization(m, stated), m.input, CONFIGS[(kind, refine)])
    assert decoder.format == m.format
    outputs = data.draw(outputs_of(m), "outputs")
    region = data.draw(regions, "region")
    try:
        decoded = decoder.decode_frame(outputs, region)
    except FrameError:
        event("frame error")
        return
    event(f"{min(len(decoded.poses), 2)} poses")
    for pose in decoded.poses:
        sound(pose)
    if decoded.anchor is not None:
        sound(decoded.anchor)
    downstream(decoded.poses)
