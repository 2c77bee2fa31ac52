"""The picamera2 adapter tells the truth: each way the Pi camera stack fails gets one line and exit 69.

Driven through the real CLI with the stand-in package of ``tests/pi/standins`` (the same one the
emulated Raspberry Pi OS root installs into its dist-packages), made to fail the way the real
one does: no package, no libcamera bindings, a simplejpeg built for another NumPy (the messages
NumPy and Cython really print), no camera, a camera another process holds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgepose.errors import EX_UNAVAILABLE
from tests.builders.cli import run_cli

pytestmark = pytest.mark.pi  # also in the emulated Raspberry Pi OS (make test-pi)


STANDINS = Path(__file__).resolve().parent / "pi" / "standins"

# What the real modules raise under the wrong NumPy: Cython's dtype check (simplejpeg is Cython) and
# NumPy's import_array() in a C module built for NumPy 1.x (seen with Debian's python3-opencv).
DTYPE_SIZE = (
    "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88 from PyObject"
)
ARRAY_API = "numpy.core.multiarray failed to import"
WORKING_JPEG = "def encode_jpeg(image, quality=85, colorspace='RGB'):\n    return b'\\xff\\xd8\\xff\\xd9'\n"


def missing(site: Path, name: str) -> None:
    """A module that is absent, even where the system has it: the import fails as for a missing one."""
    (site / f"{name}.py").write_text(f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n")


def standin_tree(root: Path, jpeg_module: str = WORKING_JPEG, libcamera: bool = True) -> Path:
    """A directory with the stand-in picamera2, libcamera and simplejpeg, simplejpeg's core replaced."""
    site = root / "site"
    shutil.copytree(STANDINS / "picamera2", site / "picamera2")
    if libcamera:
        shutil.copytree(STANDINS / "libcamera", site / "libcamera")
    else:
        missing(site, "libcamera")
    (site / "simplejpeg").mkdir(parents=True)
    shutil.copy(STANDINS / "simplejpeg" / "__init__.py", site / "simplejpeg" / "__init__.py")
    (site / "simplejpeg" / "_jpeg.py").write_text(jpeg_module)
    return site


def apt_site(root: Path, numpy: str = "1.24.2", picamera2: bool = True) -> Path:
    """What apt's dist-packages look like to edgepose.syspackages: NumPy's metadata, picamera2's package."""
    apt = root / "apt"
    (apt / "numpy").mkdir(parents=True)
    info = apt / f"numpy-{numpy}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: numpy\nVersion: {numpy}\n")
    if picamera2:
        (apt / "picamera2").mkdir()
        (apt / "picamera2" / "__init__.py").write_text("")
    return apt


def camera_run(site: Path | None, apt: Path, *extra: str, env: dict | None = None):
    full = {"EDGEPOSE_SYSTEM_SITE": str(apt), **(env or {})}
    if site is not None:
        full["PYTHONPATH"] = f"{site}:{Path(__file__).resolve().parents[1]}"
    return run_cli(
        "run", "--source", "picamera2", "--max-frames", "2", "--threads", "1", "--sink", "stdout", *extra, env=full
    )


def one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("edgepose: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


@pytest.mark.parametrize("message", [DTYPE_SIZE, ARRAY_API])
@pytest.mark.parametrize("exc", ["ValueError", "ImportError"])
def test_numpy_abi_mismatch_names_both_numpys_and_the_fix(tmp_path, message, exc):
    site = standin_tree(tmp_path, f"raise {exc}({message!r})\n")
    proc = camera_run(site, apt_site(tmp_path))
    assert proc.returncode == EX_UNAVAILABLE, proc.stderr
    line = one_error_line(proc.stderr)
    assert f"NumPy {np.__version__}" in line  # the one in use
    assert "built for NumPy 1.24.2" in line  # the one apt's module was built for
    assert "pip install 'numpy==1.24.2'" in proc.stderr and "make clean venv" in proc.stderr


def no_picamera2(root: Path) -> Path:
    site = root / "site"
    site.mkdir()
    missing(site, "picamera2")
    return site


# (case, the Python path the child sees, whether apt has picamera2, stand-in mode, source, line, hint)
FAILURES = [
    (
        "no libcamera",
        lambda t: standin_tree(t, libcamera=False),
        True,
        "",
        "picamera2",
        "libcamera's Python bindings are missing",
        "sudo apt install python3-libcamera",
    ),
    (
        "not installed",
        no_picamera2,
        False,
        "",
        "picamera2",
        "picamera2, which is not installed",
        "sudo apt install python3-picamera2",
    ),
    (
        "hidden from the venv",
        no_picamera2,
        True,
        "",
        "picamera2",
        "installed by apt but this Python does not see it",
        "make clean venv",
    ),
    ("no camera", standin_tree, True, "none", "picamera2", "no camera connected", "rpicam-hello --list-cameras"),
    ("second camera", standin_tree, True, "", "picamera2:1", "camera 1 is not connected", "picamera2:0"),
    ("busy", standin_tree, True, "busy", "picamera2", "camera 0 is busy: another process holds it", "fuser"),
]


@pytest.mark.parametrize(
    ("site", "apt_has", "mode", "source", "line", "hint"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_each_camera_failure_is_one_line_with_its_fix(tmp_path, site, apt_has, mode, source, line, hint):
    env = {
        "EDGEPOSE_SYSTEM_SITE": str(apt_site(tmp_path, picamera2=apt_has)),
        "STANDIN_PICAMERA2": mode,
        "PYTHONPATH": f"{site(tmp_path)}:{Path(__file__).resolve().parents[1]}",
    }
    proc = run_cli("run", "--source", source, "--max-frames", "1", "--threads", "1", env=env)
    assert proc.returncode == EX_UNAVAILABLE, proc.stderr
    assert line in one_error_line(proc.stderr)
    assert hint in proc.stderr


def test_working_stand_in_camera_gives_poses_of_the_scene(tmp_path, squat_path):
    """The whole camera path: lores YUV420 from the stand-in, converted, through the real model."""
    env = {"STANDIN_PICAMERA2_SCENE": str(squat_path)}
    proc = camera_run(
        standin_tree(tmp_path), apt_site(tmp_path), "--set", "source.width=640", "--set", "source.height=480", env=env
    )
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(docs) == 2
    assert (docs[0]["width"], docs[0]["height"]) == (256, 192)  # lores for a 192 model, aligned to 64
    assert docs[0]["poses"] and docs[0]["poses"][0]["score"] > 0.3


def test_doctor_reports_the_abi_mismatch_as_a_failure(tmp_path):
    env = {
        "EDGEPOSE_SYSTEM_SITE": str(apt_site(tmp_path)),
        "PYTHONPATH": str(standin_tree(tmp_path, f"raise ValueError({DTYPE_SIZE!r})\n")),
    }
    proc = run_cli("doctor", "--json", env=env)
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["camera.picamera2"]["status"] == "fail"
    assert "built for NumPy 1.24.2" in checks["camera.picamera2"]["detail"]
    assert checks["numpy.abi"]["status"] == ("ok" if np.__version__ == "1.24.2" else "fail")
