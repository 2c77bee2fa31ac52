"""Shared fixtures: the real models, images and video in ../shared, a real Mosquitto, and MoveNet.

The values and helpers they build on (paths, running the CLI, checking documents) are in tests/builders/.

One setting points the tests at the shared assets: ``EDGEPOSE_SHARED`` (default ``../shared`` from
the project root). Nothing is copied into the repository and nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.builders.paths import MOVENET, POSENET, SHARED


def pytest_configure(config: pytest.Config) -> None:
    if not (SHARED / "models" / MOVENET).exists():
        raise pytest.UsageError(f"shared test assets not found at {SHARED}; set EDGEPOSE_SHARED")
    # The CLI and the library find models by manifest name through this one setting.
    os.environ["EDGEPOSE_MODEL_DIRS"] = f"{SHARED / 'models'}{os.pathsep}{SHARED / 'images'}"
    # The daemons started here keep dense copies of sparse models in the model cache
    # (edgepose.inference.densify): one for this run, not the user's.
    cache = Path(tempfile.mkdtemp(prefix="edgepose-tests-cache-"))
    os.environ["XDG_CACHE_HOME"] = str(cache)
    config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def models_dir(shared: Path) -> Path:
    return shared / "models"


@pytest.fixture(scope="session")
def movenet_path(models_dir: Path) -> Path:
    return models_dir / MOVENET


@pytest.fixture(scope="session")
def posenet_path(models_dir: Path) -> Path:
    return models_dir / POSENET


@pytest.fixture(scope="session")
def squat_path(shared: Path) -> Path:
    return shared / "images" / "squat.bmp"


@pytest.fixture(scope="session")
def squat_rgb(squat_path: Path) -> np.ndarray:
    from edgepose.sources.files import read_image

    return read_image(squat_path)


@pytest.fixture(scope="session")
def walking_video(shared: Path) -> Path:
    return shared / "videos" / "walking_crowd_720p.mp4"


@pytest.fixture
def broker(tmp_path: Path):
    """A real Mosquitto on a free loopback port, for one test (``tests.mosquitto``); stopped after it."""
    from tests.mosquitto import Mosquitto

    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def movenet_estimator(movenet_path: Path):
    """The real MoveNet Lightning on the CPU (2 threads), one per test module."""
    from edgepose.config.sections import DecoderConfig
    from edgepose.estimation.estimator import PoseEstimator
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.modelfile import read_model

    return PoseEstimator(LiteRtEngine(read_model(movenet_path), threads=2), DecoderConfig())
