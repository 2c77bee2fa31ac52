"""``edgepose bench``: latency, throughput and memory of each model x accelerator x thread count.

:func:`run_bench` measures (see :mod:`edgepose.tools.bench.runner`); :mod:`edgepose.tools.bench.report`
writes the table, JSON, CSV and plot and compares with an earlier run.
"""

from edgepose.tools.bench.figures import Latency, Plan, Report, Row, RunFigures
from edgepose.tools.bench.runner import run_bench

__all__ = ["Latency", "Plan", "Report", "Row", "RunFigures", "run_bench"]
