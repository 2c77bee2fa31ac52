"""The install-time rule for apt's NumPy-bound modules, and the platform verdict (README's table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose import platforms, syspackages
from edgepose.syspackages import SystemPython

pytestmark = pytest.mark.pi  # also in the emulated Raspberry Pi OS (make test-pi)


def make_apt(
    root: Path, numpy: str | None = "1.24.2", modules: tuple[str, ...] = ("picamera2",), how: str = "dist-info"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if numpy:
        (root / "numpy").mkdir()
        if how == "dist-info":
            (root / f"numpy-{numpy}.dist-info").mkdir()
            (root / f"numpy-{numpy}.dist-info" / "METADATA").write_text(f"Name: numpy\nVersion: {numpy}\n")
        elif how == "version.py":
            (root / "numpy" / "version.py").write_text(f'version = "{numpy}"\n__version__ = version\n')
        else:  # versioneer's JSON blob, as NumPy 1.24's _version.py carries it
            (root / "numpy" / "_version.py").write_text(f"version_json = '''\n{{\"version\": \"{numpy}\"}}'''\n")
    for name in modules:
        if name == "simplejpeg":
            (root / name).mkdir()
            (root / name / "_jpeg.cpython-311-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")
        else:
            (root / name).mkdir()
    return root


@pytest.mark.parametrize("how", ["dist-info", "version.py", "versioneer"])
def test_scan_reads_apts_numpy_version_however_it_is_recorded(tmp_path, how):
    system = syspackages.scan([make_apt(tmp_path / "apt", how=how)])
    assert system.numpy == "1.24.2"
    assert system.bound == ("picamera2",)


def test_constraint_pins_apts_numpy_where_a_numpy_bound_module_is_present(tmp_path):
    assert syspackages.constraints(syspackages.scan([make_apt(tmp_path / "a")])) == ["numpy==1.24.2"]
    only_jpeg = syspackages.scan([make_apt(tmp_path / "b", modules=("simplejpeg",))])
    assert syspackages.constraints(only_jpeg) == ["numpy==1.24.2"]


def test_no_constraint_without_such_a_module_or_without_apts_numpy(tmp_path):
    assert syspackages.constraints(syspackages.scan([make_apt(tmp_path / "a", modules=())])) == []
    assert syspackages.constraints(syspackages.scan([make_apt(tmp_path / "b", numpy=None)])) == []
    assert syspackages.constraints(syspackages.scan([])) == []  # a bare dev box or CI: nothing changes


def test_cli_prints_the_constraint_from_the_directories_it_is_given(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEPOSE_SYSTEM_SITE", str(make_apt(tmp_path / "apt")))
    assert syspackages.main(["constraints"]) == 0
    assert capsys.readouterr().out.strip() == "numpy==1.24.2"


@pytest.mark.parametrize(
    ("in_use", "status"),
    [("1.24.2", "ok"), ("1.26.4", "warn"), ("1.23.5", "fail"), ("2.4.6", "fail"), ("2.0.0rc1", "fail")],
)
def test_abi_verdict(in_use, status):
    system = SystemPython((), "1.24.2", ("picamera2", "simplejpeg"))
    verdict = syspackages.abi_verdict(in_use, "/venv/lib/python3.11/site-packages", system)
    assert verdict.status == status
    if status != "ok":
        assert "numpy==1.24.2" in verdict.hint


def test_abi_verdict_without_bound_modules_is_ok_whatever_numpy():
    assert syspackages.abi_verdict("2.4.6", "/x", SystemPython((), "1.24.2", ())).status == "ok"


def test_abi_errors_are_recognised_through_the_exception_chain():
    try:
        try:
            raise ValueError("numpy.dtype size changed, may indicate binary incompatibility. Expected 96, got 88")
        except ValueError:
            raise RuntimeError("picamera2 failed") from None  # hides the cause, keeps no chain
    except RuntimeError as hidden:
        assert not syspackages.is_abi_error(hidden)
    try:
        try:
            raise ImportError("numpy.core.multiarray failed to import")
        except ImportError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as chained:
        assert syspackages.is_abi_error(chained)
    assert not syspackages.is_abi_error(ImportError("No module named 'libcamera'"))


def test_system_dirs_are_apts_dist_packages_under_the_base_prefix(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEPOSE_SYSTEM_SITE", raising=False)
    (tmp_path / "lib" / "python3" / "dist-packages").mkdir(parents=True)
    assert syspackages.system_dirs(str(tmp_path), (3, 11)) == (tmp_path / "lib" / "python3" / "dist-packages",)


# -- platforms ----------------------------------------------------------------------------------


def platform_of(tmp_path: Path, os_release: str, machine: str, board: str | None) -> platforms.Platform:
    (tmp_path / "os-release").write_text(os_release)
    model = tmp_path / "model"
    if board:
        model.write_bytes(board.encode() + b"\0")
    return platforms.read_platform(tmp_path / "os-release", model, machine)


BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n'
RASPBIAN = 'PRETTY_NAME="Raspbian GNU/Linux 12 (bookworm)"\nID=raspbian\nVERSION_CODENAME=bookworm\n'


def test_pi_os_64_bit_on_a_pi_is_supported(tmp_path):
    p = platform_of(tmp_path, BOOKWORM, "aarch64", "Raspberry Pi 4 Model B Rev 1.4")
    assert p.board == "Raspberry Pi 4 Model B Rev 1.4"  # the device tree's NUL is stripped
    v = platforms.verdict(p)
    assert v.status == "ok" and "Raspberry Pi OS 64-bit" in v.detail


def test_32_bit_pi_os_fails_with_what_to_do_unless_tflite_runtime_is_there(tmp_path):
    p = platform_of(tmp_path, RASPBIAN, "armv7l", "Raspberry Pi 3 Model B Plus Rev 1.3")
    v = platforms.verdict(p, tflite_runtime_importable=False)
    assert v.status == "fail" and "no LiteRT" in v.detail and "64-bit" in v.hint
    assert platforms.verdict(p, tflite_runtime_importable=True).status == "warn"


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_development_machines_are_supported(tmp_path, machine):
    v = platforms.verdict(platform_of(tmp_path, BOOKWORM, machine, None))
    assert v.status == "ok" and "development" in v.detail


def test_unknown_architecture_warns(tmp_path):
    assert platforms.verdict(platform_of(tmp_path, BOOKWORM, "riscv64", None)).status == "warn"
