"""Timing the decoders, Numba and NumPy side by side, on real model outputs.

:func:`bench_decoders` is what ``scripts/bench_decoders.py`` prints and what ``edgepose bench``
can reuse. Each case is one decoder's ``decode`` call (dequantize, kernel, mapping to source
pixels) on the outputs of one invoke; p50 and p95 are per call, in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.decode.base import Decoder
from edgepose.estimation.preprocess import Region, cut, full_region, to_input_dtype
from edgepose.inference.engine import LiteRtEngine, TensorSpec
from edgepose.inference.modelfile import read_model
from edgepose.sources.files import read_image


@dataclass(frozen=True)
class DecoderTiming:
    """One decoder on one input with one kernel kind: per-call milliseconds."""

    case: str
    kernel: str
    calls: int
    p50_ms: float
    p95_ms: float
    poses: int


@dataclass(frozen=True)
class Case:
    """A decoder's inputs: output specs, the raw outputs of one invoke, and the region they came from."""

    name: str
    outputs: tuple[TensorSpec, ...]
    input_spec: TensorSpec
    arrays: tuple[np.ndarray, ...]
    region: Region
    options: dict[str, float]
    config: DecoderConfig


def time_calls(fn: Callable[[], object], calls: int, clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """Milliseconds of each of ``calls`` calls (after one untimed call)."""
    fn()
    out = np.empty(calls)
    for i in range(calls):
        t0 = clock()
        fn()
        out[i] = (clock() - t0) * 1e3
    return out


def posenet_case(model_path: Path, image_path: Path, max_poses: int = 10, threads: int = 2) -> Case:
    """The real PoseNet outputs (31x41 grid) of the golden image through the Coral model."""
    engine = LiteRtEngine(read_model(model_path), threads=threads)
    image = read_image(image_path)
    _, in_h, in_w, _ = engine.input.shape
    region = full_region(image.shape[1], image.shape[0], in_w, in_h)
    tensor = to_input_dtype(cut(image, region, in_w, in_h), engine.input.dtype)
    arrays = tuple(engine.invoke(tensor))
    grid = engine.outputs[0].shape[1:3]
    return Case(
        f"posenet_multi {grid[0]}x{grid[1]}, {max_poses} poses max",
        engine.outputs,
        engine.input,
        arrays,
        region,
        engine.model.decoder_options,
        DecoderConfig(max_poses=max_poses),
    )


def derived_cases(posenet: Case) -> list[Case]:
    """Single-person PoseNet on the same heatmaps and offsets; heatmap refinements on synthetic 64x48 maps;
    MoveNet MultiPose on six constructed people."""
    heat, shorts = posenet.outputs[0], posenet.outputs[1]
    cases = [replace(posenet, name="posenet_single 31x41", outputs=(heat, shorts), arrays=posenet.arrays[:2])]
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:64, 0:48]
    centres = rng.uniform(4, 44, (17, 2))
    maps = np.stack([np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 8.0) for cx, cy in centres], axis=2)[None]
    spec = TensorSpec("heatmaps", 0, maps.shape, np.dtype(np.float32))
    inp = TensorSpec("input", 0, (1, 256, 192, 3), np.dtype(np.float32))
    for method in ("argmax", "quarter", "dark"):
        cases.append(
            Case(
                f"heatmap {method} 64x48",
                (spec,),
                inp,
                (maps.astype(np.float32),),
                full_region(192, 256, 192, 256),
                {},
                DecoderConfig(heatmap_refine=method),
            )
        )
    rows = rng.random((1, 6, 56)).astype(np.float32)
    rows[0, :, 55] = 0.9
    spec = TensorSpec("output_0", 0, rows.shape, np.dtype(np.float32))
    inp = TensorSpec("input", 0, (1, 160, 256, 3), np.dtype(np.uint8))
    cases.append(
        Case("movenet_multipose 6 people", (spec,), inp, (rows,), full_region(1280, 720, 256, 160), {}, DecoderConfig())
    )
    return cases


def build(case: Case, kernel: str) -> Decoder:
    config = replace(case.config, kernel=kernel)
    return choose_decoder(FORMATS, case.outputs, case.input_spec, config, case.name, case.options)


def bench_decoders(
    cases: Sequence[Case], calls: int = 500, kernels: Sequence[str] = ("numba", "numpy"), numpy_calls: int | None = None
) -> list[DecoderTiming]:
    """Time every case with every kernel kind; NumPy runs ``numpy_calls`` (default ``calls // 10``)."""
    results = []
    for case in cases:
        for kernel in kernels:
            decoder = build(case, kernel)
            n = calls if kernel == "numba" else (numpy_calls or max(20, calls // 10))
            poses = decoder.decode(case.arrays, case.region)
            ms = time_calls(lambda d=decoder, c=case: d.decode(c.arrays, c.region), n)
            results.append(
                DecoderTiming(
                    case.name, kernel, n, float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), len(poses)
                )
            )
    return results


def format_table(results: Sequence[DecoderTiming]) -> str:
    """A text table, one row per case, Numba and NumPy side by side with the speed-up."""
    lines = [f"{'decoder':40} {'poses':>5} {'numba p50':>10} {'p95':>8} {'numpy p50':>10} {'p95':>8} {'speed-up':>9}"]
    by_case: dict[str, dict[str, DecoderTiming]] = {}
    for r in results:
        by_case.setdefault(r.case, {})[r.kernel] = r
    for case, kinds in by_case.items():
        nb, np_ = kinds.get("numba"), kinds.get("numpy")
        poses = (nb or np_).poses if (nb or np_) else 0
        cell = lambda t: f"{t.p50_ms:10.3f} {t.p95_ms:8.3f}" if t else f"{'-':>10} {'-':>8}"  # noqa: E731
        ratio = f"{np_.p50_ms / nb.p50_ms:8.1f}x" if nb and np_ and nb.p50_ms > 0 else f"{'-':>9}"
        lines.append(f"{case:40} {poses:5d} {cell(nb)} {cell(np_)} {ratio}")
    return "\n".join(lines)
