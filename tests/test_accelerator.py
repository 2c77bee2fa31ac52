"""Accelerator selection and the Edge TPU's failure modes, through the real ``load_delegate``.

Where there is neither a Coral nor libedgetpu (CI, a dev box), the real runtime's delegate loading
fails the way it does on a Pi without the Edge TPU runtime installed: the tests of that path are
marked with the environment they need (``tests/environment.py``) and skipped where it is installed.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from edgepose.app import App, build_estimator, meta_document
from edgepose.config import load_config
from edgepose.config.sections import ModelConfig
from edgepose.errors import InputError, UnavailableError
from edgepose.inference.accelerator import (
    diagnose_delegate_failure,
    load_edgetpu_delegate,
    open_engine,
    resolve_pair,
)
from edgepose.inference.modelfile import read_model
from edgepose.inference.runtime import Runtime, import_runtime
from edgepose.inference.tpu_devices import EdgeTpuDevice, find_edgetpus, matching
from edgepose.modelstore.manifest import load_manifest
from tests.builders.cli import run_cli
from tests.builders.paths import MOVENET, MOVENET_TPU, POSENET, POSENET_TPU, SHARED
from tests.builders.sysfs import fake_sysfs
from tests.environment import without_edgetpu, without_libedgetpu

NO_DEVICES: list[EdgeTpuDevice] = []
USB = EdgeTpuDevice("usb", "18d1:9302", "usb", Path("/dev/bus/usb/002/003"), True)
USB_FRESH = EdgeTpuDevice("usb", "1a6e:089a", "usb (before first use)", Path("/dev/bus/usb/002/004"), True)
USB_DENIED = EdgeTpuDevice("usb", "18d1:9302", "usb", Path("/dev/bus/usb/002/005"), False)
PCI = EdgeTpuDevice("pci", "apex_0", "pci", Path("/dev/apex_0"), True)


@without_libedgetpu
def test_real_load_delegate_missing_library_is_one_clear_error(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnavailableError) as err:
        load_edgetpu_delegate(import_runtime(), "usb")
    assert err.value.message == "the Edge TPU runtime (libedgetpu.so.1) is not installed"
    assert "libedgetpu1-std" in (err.value.hint or "")
    del err
    import gc

    gc.collect()  # the half-built Delegate is freed here: its __del__ must print nothing
    assert "Exception ignored" not in capfd.readouterr().err


@without_libedgetpu
def test_without_disarming_the_runtime_prints_a_traceback_users_would_see() -> None:
    # Why the disarming exists: the raw runtime call leaves an AttributeError in __del__ (in a child
    # process so its noise stays out of this one).
    code = (
        "from ai_edge_litert.interpreter import load_delegate\n"
        "try:\n    load_delegate('libedgetpu.so.1')\nexcept OSError as e:\n    print(e)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "cannot open shared object file" in out.stdout
    assert "Exception ignored" in out.stderr and "_library" in out.stderr


@pytest.mark.parametrize(
    ("text", "device", "devices", "expected"),
    [
        # the loader's message when libedgetpu is not installed
        ("libedgetpu.so.1: cannot open shared object file: No such file or directory", "", [USB], "is not installed"),
        # library present, nothing plugged in
        ("Failed to load delegate from libedgetpu.so.1", "", NO_DEVICES, "no Edge TPU found"),
        # a USB device is there but its node is not writable for this user
        (
            "Failed to load delegate from libedgetpu.so.1",
            "usb",
            [USB_DENIED],
            "permission denied on /dev/bus/usb/002/005",
        ),
        # asked for PCIe, only USB present
        (
            "Failed to load delegate from libedgetpu.so.1",
            "pci",
            [USB],
            "no Edge TPU matching model.edgetpu_device='pci'",
        ),
        # asked for the second USB device, only one present
        ("Failed to load delegate from libedgetpu.so.1", "usb:1", [USB], "no Edge TPU matching"),
        # present and accessible, yet it failed (held by another process, wedged)
        ("Failed to load delegate from libedgetpu.so.1", "usb:0", [USB], "could not be opened"),
    ],
)
def test_delegate_failures_are_diagnosed(text: str, device: str, devices: list, expected: str) -> None:
    error = diagnose_delegate_failure(text, device, devices)
    assert isinstance(error, UnavailableError) and error.exit_code == 69
    assert expected in error.message
    assert "\n" not in error.message and error.hint


def test_permission_hint_names_the_group_and_udev_rule() -> None:
    error = diagnose_delegate_failure("Failed to load delegate", "", [USB_DENIED])
    assert "plugdev" in (error.hint or "") and "udev" in (error.hint or "")


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", [USB, USB_FRESH, PCI]),  # any
        ("usb", [USB, USB_FRESH]),
        ("usb:1", [USB_FRESH]),
        ("usb:2", []),
        ("pci", [PCI]),
        ("pci:0", [PCI]),
    ],
)
def test_device_selector(selector: str, expected: list) -> None:
    assert matching([USB, USB_FRESH, PCI], selector) == expected


def test_find_edgetpus_reads_usb_ids_before_and_after_first_use(tmp_path: Path) -> None:
    sys_usb, dev = fake_sysfs(
        tmp_path, {"1-1": ("1a6e", "089a", 1, 2), "2-1": ("18d1", "9302", 2, 3), "3-1": ("046d", "c52b", 3, 4)}
    )
    (dev / "apex_0").touch()
    found = find_edgetpus(sys_usb, dev)
    assert [(d.kind, d.ident) for d in found] == [("usb", "1a6e:089a"), ("usb", "18d1:9302"), ("pci", "apex_0")]
    assert found[0].state == "usb (before first use)"
    assert found[1].node == dev / "bus/usb/002/003" and found[1].accessible is True


@without_edgetpu
def test_find_edgetpus_on_this_machine_finds_none() -> None:
    assert find_edgetpus() == []


def test_edgetpu_custom_op_detected_in_shared_models(models_dir: Path) -> None:
    tpu_files = sorted(models_dir.glob("*_edgetpu.tflite"))
    assert len(tpu_files) == 2
    for path in tpu_files:
        assert read_model(path).edgetpu_compiled, path
        assert not read_model(path.with_name(path.name.replace("_edgetpu", ""))).edgetpu_compiled


def model(**kw) -> ModelConfig:
    return dataclasses.replace(ModelConfig(), **kw)


@pytest.mark.parametrize(
    ("config", "cpu", "tpu"),
    [
        (model(name="movenet_lightning_int8"), MOVENET, MOVENET_TPU),  # manifest pairing from the CPU side
        (model(name="movenet_lightning_int8_edgetpu"), MOVENET, MOVENET_TPU),  # ...from the Edge TPU side
        (model(name=str(SHARED / "models" / POSENET)), POSENET, POSENET_TPU),  # a path: '_edgetpu' sibling
        (model(name=str(SHARED / "models" / POSENET_TPU)), POSENET, POSENET_TPU),  # an Edge TPU path
        (model(name="movenet_lightning_int8", edgetpu_name=POSENET_TPU), MOVENET, POSENET_TPU),  # explicit wins
    ],
)
def test_model_pair_resolution(models_dir: Path, config: ModelConfig, cpu: str, tpu: str) -> None:
    pair = resolve_pair(config, [models_dir])
    assert pair.cpu == models_dir / cpu and pair.edgetpu == models_dir / tpu


def test_auto_picks_the_cpu_file_of_an_edgetpu_name(models_dir: Path) -> None:
    choice = open_engine(
        model(name="movenet_lightning_int8_edgetpu", accelerator="auto"), [models_dir], scan=lambda: []
    )
    assert choice.accelerator == "cpu" and choice.model_path.name == MOVENET
    choice.engine.close()


def test_an_edgetpu_name_with_accelerator_cpu_is_refused(models_dir: Path) -> None:
    # Naming the Edge TPU file and asking for the CPU is a contradiction: say so, do not guess.
    with pytest.raises(UnavailableError, match="compiled for the Edge TPU and cannot run on the CPU"):
        open_engine(model(name="movenet_lightning_int8_edgetpu", accelerator="cpu"), [models_dir])


def test_edgetpu_model_alone_on_the_cpu_is_refused(tmp_path: Path, models_dir: Path) -> None:
    shutil.copy(models_dir / MOVENET_TPU, tmp_path / MOVENET_TPU)
    with pytest.raises(UnavailableError, match="compiled for the Edge TPU and cannot run on the CPU"):
        open_engine(model(name=str(tmp_path / MOVENET_TPU), accelerator="cpu"), [tmp_path], manifest={})


def test_auto_without_a_device_runs_on_the_cpu_without_fallback(models_dir: Path) -> None:
    choice = open_engine(model(accelerator="auto"), [models_dir], scan=lambda: [])
    assert (choice.accelerator, choice.fallback, choice.model_path.name) == ("cpu", "", MOVENET)
    choice.engine.close()


@without_libedgetpu
def test_auto_with_a_device_tries_the_edgetpu_and_fails_clearly(models_dir: Path) -> None:
    # A device shows in sysfs but libedgetpu is missing: auto behaves as edgetpu (no silent CPU).
    with pytest.raises(UnavailableError, match="not installed"):
        open_engine(model(accelerator="auto"), [models_dir], scan=lambda: [USB])


def test_fallback_needs_the_cpu_model(tmp_path: Path, models_dir: Path) -> None:
    shutil.copy(models_dir / MOVENET_TPU, tmp_path / MOVENET_TPU)
    config = model(name="movenet_lightning_int8_edgetpu", accelerator="edgetpu", fallback="cpu")
    with pytest.raises(InputError, match="CPU model of movenet_lightning_int8_edgetpu is missing"):
        open_engine(config, [tmp_path])


def test_cpu_model_on_the_tpu_runs_but_warns(
    tmp_path: Path, models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy(models_dir / MOVENET, tmp_path / MOVENET)  # no Edge TPU variant beside it
    real = import_runtime()
    delegates = []

    def fake_load_delegate(library: str, options: dict) -> object:
        delegates.append((library, options))
        return object()

    class CpuInterpreter(real.Interpreter):  # the stand-in "TPU": ignores the delegate object
        def __init__(self, *args, experimental_delegates=None, **kw) -> None:
            super().__init__(*args, **kw)

    runtime = Runtime("stand-in", "0", CpuInterpreter, fake_load_delegate)
    config = model(name=str(tmp_path / MOVENET), accelerator="edgetpu", edgetpu_device="usb:0")
    with caplog.at_level(logging.WARNING):
        choice = open_engine(config, [tmp_path], runtime=runtime, manifest={})
    assert choice.accelerator == "edgetpu" and choice.model_path.name == MOVENET
    assert delegates == [("libedgetpu.so.1", {"device": "usb:0"})]
    assert "not compiled for the Edge TPU: it runs, but nothing is accelerated" in caplog.text
    choice.engine.close()


@without_libedgetpu
def test_fallback_at_start_is_in_log_meta_and_stats(caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(None, ["model.accelerator=edgetpu", "model.fallback=cpu"])
    app = App(config)
    with caplog.at_level(logging.ERROR):
        app.start_model()
    try:
        assert app.loaded is not None and app.loaded.accelerator == "cpu"
        assert "FALLING BACK TO THE CPU" in caplog.text and "not installed" in caplog.text
        assert meta_document(config, app.loaded)["fallback"] == (
            "Edge TPU unavailable: the Edge TPU runtime (libedgetpu.so.1) is not installed"
        )
        assert app.stats.snapshot(1.0)["accelerator_fallbacks"] == 1
        assert app.health.status().healthy
    finally:
        app.stop()


def test_no_fallback_is_meta_free_and_counts_nothing() -> None:
    config = load_config(None, ["model.accelerator=cpu"])
    loaded = build_estimator(config)
    assert meta_document(config, loaded)["fallback"] is None
    loaded.estimator.engine.close()


@without_libedgetpu
def test_cli_without_fallback_exits_69_with_one_line(squat_path: Path) -> None:
    out = run_cli("run", "--source", str(squat_path), "--max-frames", "1", "--accelerator", "edgetpu")
    assert out.returncode == 69
    assert "edgepose: error: the Edge TPU runtime (libedgetpu.so.1) is not installed" in out.stderr
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr
    assert out.stdout == ""


@without_libedgetpu
def test_cli_with_fallback_runs_on_the_cpu_and_says_so(squat_path: Path) -> None:
    out = run_cli(
        "run",
        "--source",
        str(squat_path),
        "--max-frames",
        "1",
        "--accelerator",
        "edgetpu",
        "--set",
        "model.fallback=cpu",
        "--sink",
        "stdout",
    )
    assert out.returncode == 0, out.stderr
    assert "FALLING BACK TO THE CPU" in out.stderr
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr
    from tests.builders.documents import parse_documents

    (doc,) = parse_documents(out.stdout)
    assert doc["accelerator"] == "cpu" and doc["poses"]


def test_manifest_pairs_are_consistent() -> None:
    manifest = load_manifest()
    for entry in manifest.values():
        if entry.edgetpu:
            assert entry.cpu_variant in manifest and not manifest[entry.cpu_variant].edgetpu, entry.name
            assert entry.file.endswith("_edgetpu.tflite")
            assert entry.input == manifest[entry.cpu_variant].input


# (what the delegate loader says, the devices present): each diagnosis whose hint offers the fallback
FALLBACK_HINTED = [
    ("libedgetpu.so.1: cannot open shared object file: No such file or directory", [USB]),  # not installed
    ("Failed to load delegate from libedgetpu.so.1", NO_DEVICES),  # no Coral plugged in
    ("Failed to load delegate from libedgetpu.so.1", [USB]),  # present but could not be opened
]


@pytest.mark.parametrize(("text", "devices"), FALLBACK_HINTED)
def test_the_fallback_is_suggested_only_where_it_is_not_set(
    text: str, devices: list[EdgeTpuDevice], models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def failing_load_delegate(library: str, options: dict) -> object:
        raise ValueError(text)

    runtime = Runtime("stand-in", "0", import_runtime().Interpreter, failing_load_delegate)
    without = model(name="movenet_lightning_int8", accelerator="edgetpu", fallback="none")
    with pytest.raises(UnavailableError) as err:
        open_engine(without, [models_dir], runtime=runtime, scan=lambda: devices)
    assert "model.fallback: cpu" in (err.value.hint or "")
    with caplog.at_level(logging.ERROR):
        choice = open_engine(
            dataclasses.replace(without, fallback="cpu"), [models_dir], runtime=runtime, scan=lambda: devices
        )
    try:
        (line,) = [r.getMessage() for r in caplog.records if "FALLING BACK" in r.getMessage()]
        assert "; fix: " in line and "set model.fallback" not in line, line
    finally:
        choice.engine.close()


@pytest.mark.parametrize(("file", "compiled"), [(MOVENET, False), (MOVENET_TPU, True)])
def test_a_model_named_by_its_path_is_told_apart_without_reading_it_whole(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, file: str, compiled: bool
) -> None:
    # Reading the file only to look at its op codes put a model-sized block in the heap and took it
    # out again before the model was read for good: BlazePose full's daemon ran 6 MB larger for it.
    import edgepose.inference.accelerator as accelerator

    def read_whole(path: Path) -> None:
        raise AssertionError(f"{path} was read whole to resolve the pair")

    monkeypatch.setattr(accelerator, "read_model", read_whole)
    pair = resolve_pair(model(name=str(models_dir / file)), [models_dir], manifest={})
    assert pair.named_edgetpu is compiled
    assert (pair.edgetpu if compiled else pair.cpu) == models_dir / file
