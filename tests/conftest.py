"""Shared fixtures: the real models, images and video in ../shared, and helpers to run the CLI.

One setting points the tests at the shared assets: ``EDGEPOSE_SHARED`` (default ``../shared`` from
the project root). Nothing is copied into the repository and nothing is downloaded.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edgepose.schema import load_schema

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")).resolve()
MOVENET = "movenet_single_pose_lightning_ptq.tflite"
MOVENET_TPU = "movenet_single_pose_lightning_ptq_edgetpu.tflite"
POSENET = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
POSENET_TPU = "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite"


def pytest_configure(config: pytest.Config) -> None:
    if not (SHARED / "models" / MOVENET).exists():
        raise pytest.UsageError(f"shared test assets not found at {SHARED}; set EDGEPOSE_SHARED")
    # The CLI and the library find models by manifest name through this one setting.
    os.environ["EDGEPOSE_MODEL_DIRS"] = f"{SHARED / 'models'}{os.pathsep}{SHARED / 'images'}"


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


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_document(document: dict, schema: str = "poses.v1.json") -> None:
    """Raise if a document does not match the committed JSON Schema (checked once, then cached)."""
    _validator(schema).validate(document)


def parse_documents(text: str) -> list[dict]:
    """Every line of JSON-lines output, each validated against the schema."""
    docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    for doc in docs:
        validate_document(doc)
    return docs


def end_child(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a child process a test started: SIGTERM, then SIGKILL if it has not exited in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cli(*args: str, env: dict | None = None, timeout: float = 120, cwd: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ``python -m edgepose`` as a user would, in a child process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "edgepose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or ROOT,
        input=stdin,
    )


def model_free_loaded(model_path: Path, model_format: str = "movenet_single"):
    """A :class:`~edgepose.app.Loaded` with no model behind it (a 192x192 input, ``model_format``'s
    decoder): enough for the documents that describe a run (``meta``)."""
    from edgepose.app import Loaded
    from edgepose.decode.base import Decoder

    class Spec:
        shape = (1, 192, 192, 3)

    class Engine:
        input = Spec()

    class FormatOnly(Decoder):
        format = model_format

    class Estimator:
        engine, decoder = Engine(), FormatOnly()

    return Loaded(Estimator(), "m", model_path, "cpu")  # type: ignore[arg-type]
