"""Facts about the project installed on Raspberry Pi OS, checked inside the emulated root (make test-pi).

scripts/test-pi.sh installs the project there as a Pi user would (``scripts/install.sh`` into
/opt/edgepose/venv, ``make venv`` into the checkout's .venv), then runs the tests marked ``pi``;
these ones only make sense there and are skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.builders.paths import MOVENET, SHARED

INSTALLED = os.environ.get("EDGEPOSE_PI_INSTALLED", "")
NUMPY2 = os.environ.get("EDGEPOSE_PI_NUMPY2", "")
APT_SITE = Path("/usr/lib/python3/dist-packages")
CHECKOUT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.pi,
    pytest.mark.skipif(not INSTALLED, reason="runs inside the emulated Raspberry Pi OS root: make test-pi"),
]


def in_venv(venv: str, code: str, env: dict | None = None, pythonpath: str | None = None):
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        full["PYTHONPATH"] = pythonpath
    full.update(env or {})
    return subprocess.run(
        [f"{venv}/bin/python", "-c", code], capture_output=True, text=True, timeout=600, env=full, cwd="/"
    )


def apt_numpy() -> str:
    out = subprocess.run(
        ["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_this_is_arm64_bookworm_with_apts_python_and_numpy():
    assert platform.machine() == "aarch64"
    assert "VERSION_CODENAME=bookworm" in Path("/etc/os-release").read_text()
    assert sys.version_info[:2] == (3, 11)
    assert apt_numpy().startswith("1.24.")


def test_make_venv_keeps_apts_numpy():
    """The developer venv (this interpreter) imports apt's NumPy: one NumPy ABI for every module."""
    assert sys.prefix != sys.base_prefix  # a venv
    assert Path(np.__file__).is_relative_to(APT_SITE), np.__file__
    assert np.__version__ == apt_numpy()
    site = Path(sys.prefix) / "lib" / "python3.11" / "site-packages"
    assert not (site / "numpy").exists()  # pip put no second NumPy into the venv


def test_install_script_venv_keeps_apts_numpy_and_its_dependencies_agree():
    proc = in_venv(INSTALLED, "import numpy, cv2; print(numpy.__file__); print(numpy.__version__)")
    assert proc.returncode == 0, proc.stderr
    path, version = proc.stdout.split()
    assert Path(path).is_relative_to(APT_SITE) and version == apt_numpy()
    check = subprocess.run([f"{INSTALLED}/bin/python", "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_apts_picamera2_imports_in_the_installed_venv_with_its_compiled_simplejpeg():
    code = "import picamera2, simplejpeg; print(simplejpeg._jpeg.__file__); print(len(simplejpeg.encode_jpeg(__import__('numpy').zeros((4, 4, 3), 'uint8'))))"  # noqa: E501
    proc = in_venv(INSTALLED, code)
    assert proc.returncode == 0, proc.stderr
    so, _ = proc.stdout.split()
    assert so.endswith(".so") and Path(so).is_relative_to(APT_SITE)  # the real compiled, NumPy-bound module


@pytest.mark.skipif(not NUMPY2, reason="needs the NumPy 2 venv that scripts/test-pi.sh makes")
def test_numpy_2_beside_apts_modules_fails_for_real_and_the_adapter_says_why():
    raw = in_venv(NUMPY2, "import picamera2")
    assert raw.returncode != 0
    assert any(m in raw.stderr for m in ("dtype size changed", "_ARRAY_API not found", "multiarray failed to import"))
    code = (
        "from edgepose.sources.picamera2 import import_picamera2\n"
        "from edgepose.errors import UnavailableError\n"
        "try:\n    import_picamera2()\n"
        "except UnavailableError as e:\n    print(e.exit_code); print(e.message); print(e.hint)\n"
    )
    proc = in_venv(NUMPY2, code, pythonpath=str(CHECKOUT))
    assert proc.returncode == 0, proc.stderr
    exit_code, message, hint = proc.stdout.splitlines()[-3:]
    assert exit_code == "69"
    assert "NumPy 2." in message and f"built for NumPy {apt_numpy()}" in message
    assert f"numpy=={apt_numpy()}" in hint


def test_doctor_in_the_installed_venv_reports_the_abi_the_camera_and_the_platform():
    proc = subprocess.run(
        [f"{INSTALLED}/bin/edgepose", "doctor", "--json"], capture_output=True, text=True, timeout=600
    )
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["numpy.abi"]["status"] == "ok", checks["numpy.abi"]
    assert "picamera2" in checks["numpy.abi"]["detail"]
    assert checks["camera.picamera2"]["status"] == "ok", checks["camera.picamera2"]
    assert checks["platform"]["status"] == "ok" and "aarch64" in checks["platform"]["detail"]


def test_installed_daemon_reads_the_stand_in_camera_with_the_installed_config():
    env = {
        **os.environ,
        "STANDIN_PICAMERA2_SCENE": str(SHARED / "images" / "squat.bmp"),
        "EDGEPOSE_MODEL_DIRS": f"{SHARED / 'models'}:{SHARED / 'images'}",
    }
    proc = subprocess.run(
        [
            f"{INSTALLED}/bin/edgepose",
            "run",
            "-c",
            "/etc/edgepose/config.yaml",
            "--source",
            "picamera2",
            "--model",
            str(SHARED / "models" / MOVENET),
            "--sink",
            "stdout",
            "--max-frames",
            "3",
            "--set",
            "source.width=640",
            "--set",
            "source.height=480",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(docs) == 3 and all(d["poses"] for d in docs)
    assert "ABI" not in proc.stderr and "numpy" not in proc.stderr.lower()


def test_installed_daemon_runs_a_pi_5s_two_cameras_on_one_engine(tmp_path):
    """Two CSI cameras (picamera2:0 and :1, the Pi 5's connectors) in one daemon with apt's
    picamera2 and NumPy: documents from each camera, on its own camera name; a third camera that is
    not connected stops the start with its name, no traceback."""
    config = tmp_path / "cameras.yaml"
    config.write_text(
        "sinks: [stdout]\n"
        f"model: {{name: {SHARED / 'models' / MOVENET}}}\n"
        "source: {width: 640, height: 480}\n"
        "cameras:\n  front: {source: {uri: 'picamera2:0'}}\n  garden: {source: {uri: 'picamera2:1'}, fps_cap: 10}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "STANDIN_PICAMERA2_SCENE": str(SHARED / "images" / "squat.bmp"),
        "STANDIN_PICAMERA2_CAMERAS": "2",
        "EDGEPOSE_MODEL_DIRS": f"{SHARED / 'models'}:{SHARED / 'images'}",
    }
    run = [f"{INSTALLED}/bin/edgepose", "run", "-c", str(config), "--max-frames", "3"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    for camera in ("front", "garden"):
        frames = [d["frame"] for d in docs if d["camera"] == camera]  # live: a frame replaced in its slot is skipped
        assert len(frames) == 3 and frames == sorted(set(frames)), (camera, frames)
        assert all(d["poses"] for d in docs if d["camera"] == camera), camera
    one = {**env, "STANDIN_PICAMERA2_CAMERAS": "1"}  # garden's connector is empty
    proc = subprocess.run(run, capture_output=True, text=True, timeout=900, env=one)
    assert proc.returncode != 0 and "camera garden" in proc.stderr and "Traceback" not in proc.stderr
