"""Reads failing in a row: a limit for a source that may fail for ever, none for one that moves on.

A camera whose reads fail 1000 times in a row is broken (the run ends, exit 66); a directory's
failed read is one bad file, and the next read is the next file, so a directory may hold any number
of bad files in a row (tests/test_bad_input_corpus.py runs one of 1200 through the CLI).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgepose.app import build_estimator
from edgepose.config import load_config
from edgepose.documents.poses import Stamp
from edgepose.errors import FrameError, InputError
from edgepose.frame import Frame
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import MAX_CONSECUTIVE_FAILURES, Pipeline
from edgepose.sources.base import Source
from edgepose.stats import RunStats


class FailingFirst(Source):
    """``failures`` failed reads in a row, then one frame, then the end."""

    def __init__(self, image: np.ndarray, failures: int, fails_in_place: bool) -> None:
        self.image, self.failures, self.fails_in_place = image, failures, fails_in_place
        self.name = "cam0"
        self.reads = 0

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        self.reads += 1
        if self.reads <= self.failures:
            raise FrameError(f"read {self.reads} failed")
        if self.reads == self.failures + 1:
            return Frame(self.image, 0, time.time(), time.monotonic(), self.name)
        return None

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def estimator():
    return build_estimator(load_config(None, ["model.threads=2"])).estimator


def run(estimator, source: Source) -> RunStats:
    stats = RunStats()
    Pipeline([Lane("cam0", source, estimator)], [], Stamp("test", "m", "cpu"), stats).run()
    return stats


def test_a_source_that_fails_in_place_gives_up_after_the_limit(estimator, squat_rgb: np.ndarray) -> None:
    source = FailingFirst(squat_rgb, MAX_CONSECUTIVE_FAILURES + 5, fails_in_place=True)
    with pytest.raises(InputError, match=f"{MAX_CONSECUTIVE_FAILURES} reads failed in a row"):
        run(estimator, source)
    assert source.reads == MAX_CONSECUTIVE_FAILURES


def test_a_source_that_moves_on_has_no_limit(estimator, squat_rgb: np.ndarray) -> None:
    failures = MAX_CONSECUTIVE_FAILURES + 5
    stats = run(estimator, FailingFirst(squat_rgb, failures, fails_in_place=False))
    assert (stats.processed, stats.failed) == (1, failures)
