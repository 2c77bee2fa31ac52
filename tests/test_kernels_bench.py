"""The decoder benchmark runs both kernel kinds on the real outputs (figures are reported, not asserted)."""

from __future__ import annotations

from pathlib import Path

from edgepose.decode.benchmark import bench_decoders, derived_cases, format_table, posenet_case


def test_benchmark_reports_numba_and_numpy_for_every_decoder(posenet_path: Path, shared: Path) -> None:
    posenet = posenet_case(posenet_path, shared / "images" / "posenet_test_image.bmp")
    cases = [posenet, *derived_cases(posenet)]
    results = bench_decoders(cases, calls=5, numpy_calls=2)
    assert {(r.case, r.kernel) for r in results} == {(c.name, k) for c in cases for k in ("numba", "numpy")}
    # as many timed calls as asked for, each kind (p95 >= p50 holds by definition: not a check)
    assert {(r.kernel, r.calls) for r in results} == {("numba", 5), ("numpy", 2)}
    assert {r.poses for r in results if r.case.startswith("posenet_multi")} == {2}  # both kinds find both people
    table = format_table(results)
    assert "posenet_multi 31x41, 10 poses max" in table and "speed-up" in table
