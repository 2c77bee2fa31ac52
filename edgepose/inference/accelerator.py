"""Choosing where the model runs (the CPU or an Edge TPU) and opening a supervised engine there.

The Edge TPU is reached through the runtime's own ``load_delegate('libedgetpu.so.1', {'device': ...})``;
nothing here needs pycoral. A model *pair* (the CPU file and the ``_edgetpu`` file of one network)
is configured once, and the file for the accelerator in use is picked here. Every way the Edge TPU
can be unusable ends in one :class:`UnavailableError` line that says what to do; with
``model.fallback: cpu`` the CPU model runs instead, loudly.
"""

from __future__ import annotations

import logging
import platform
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from edgepose.config.sections import ModelConfig
from edgepose.errors import InputError, UnavailableError
from edgepose.health import Health
from edgepose.inference.densify import dense_model, wants_dense
from edgepose.inference.engine import LiteRtEngine
from edgepose.inference.modelfile import ModelFile, edgetpu_compiled_file, read_model
from edgepose.inference.runtime import Runtime, import_runtime
from edgepose.inference.spill import spill_directory
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy
from edgepose.inference.tpu_devices import EdgeTpuDevice, find_edgetpus, matching
from edgepose.inference.unread import without_unread_outputs
from edgepose.modelstore.locate import cache_dir, locate
from edgepose.modelstore.manifest import ModelEntry, load_manifest

log = logging.getLogger(__name__)

EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
EDGETPU_SUFFIX = "_edgetpu"
DeviceScan = Callable[[], list[EdgeTpuDevice]]


@dataclass(frozen=True)
class EngineChoice:
    """The engine and what it runs: ``accelerator`` is what actually runs ("cpu" or "edgetpu")."""

    engine: SupervisedEngine
    accelerator: str
    model_path: Path
    fallback: str = ""  # why the Edge TPU is not used although it was asked for ("" when it is)
    # The model's own decoder parameters (PosenetDecoderOp), read with the file: never read twice.
    decoder_options: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPair:
    """The CPU and Edge TPU files of one network; a missing side carries the reason instead."""

    cpu: Path | None
    edgetpu: Path | None
    cpu_error: InputError | None = None
    edgetpu_error: InputError | None = None
    named_edgetpu: bool = False  # model.name itself is the Edge TPU file


def edgetpu_library() -> str:
    return EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")


# -- the model pair ---------------------------------------------------------------------------


def resolve_pair(
    model: ModelConfig, dirs: Sequence[Path], manifest: Mapping[str, ModelEntry] | None = None
) -> ModelPair:
    """Both files of the configured network, wherever they can be found.

    ``model.name`` may name either side; the other side is ``model.edgetpu_name`` when set, else
    the manifest's pairing (``cpu_variant``), else the same name with or without ``_edgetpu``.
    """
    manifest = load_manifest() if manifest is None else manifest
    entry = manifest.get(model.name)
    if entry is not None and entry.edgetpu:
        tpu_names, cpu_names = [model.name], [entry.cpu_variant, _strip_suffix(model.name)]
    elif entry is None and _is_edgetpu_file(model.name, dirs, manifest):
        tpu_names, cpu_names = [model.name], [_strip_suffix(model.name)]
    else:
        paired = [n for n, e in manifest.items() if e.edgetpu and e.cpu_variant == model.name]
        # An explicit edgetpu_name is not second-guessed.
        tpu_names = [model.edgetpu_name] if model.edgetpu_name else [*paired, _add_suffix(model.name)]
        cpu_names = [model.name]
    cpu, cpu_error = _first_found([n for n in cpu_names if n], dirs, manifest)
    tpu, tpu_error = _first_found([n for n in tpu_names if n], dirs, manifest)
    return ModelPair(
        cpu, tpu, cpu_error, tpu_error, named_edgetpu=tpu_names == [model.name] and cpu_names[0] != model.name
    )


def _strip_suffix(name: str) -> str:
    path = Path(name)
    stem = path.stem if path.suffix == ".tflite" else name
    if not stem.endswith(EDGETPU_SUFFIX):
        return ""
    base = stem[: -len(EDGETPU_SUFFIX)]
    return str(path.with_name(base + path.suffix)) if path.suffix == ".tflite" else base


def _add_suffix(name: str) -> str:
    path = Path(name)
    if path.suffix == ".tflite":
        return str(path.with_name(path.stem + EDGETPU_SUFFIX + path.suffix))
    return name + EDGETPU_SUFFIX


def _is_edgetpu_file(name: str, dirs: Sequence[Path], manifest: Mapping[str, ModelEntry]) -> bool:
    try:
        return edgetpu_compiled_file(locate(name, dirs, manifest))
    except InputError:
        return False


def _first_found(names: Sequence[str], dirs: Sequence[Path], manifest: Mapping[str, ModelEntry]):
    first_error: InputError | None = None
    for name in names:
        try:
            return locate(name, dirs, manifest), None
        except InputError as exc:
            first_error = first_error or detached(exc)
    return None, first_error or InputError("no model configured")


def detached(error: InputError) -> InputError:
    """``error`` without its traceback and context, to be kept in a :class:`ModelPair`.

    A kept traceback holds the frames it passed through and, by their ``f_back``, the caller's:
    :func:`open_engine`'s, whose model bytes (megabytes) then lived until the cyclic garbage
    collector happened to run, after the interpreters had taken their memory around the hole.
    """
    error.__traceback__ = None
    error.__context__ = None
    return error


# -- the Edge TPU delegate --------------------------------------------------------------------


def load_edgetpu_delegate(runtime: Runtime, device: str = "", scan: DeviceScan = find_edgetpus) -> Any:
    """The Edge TPU delegate for ``device`` ('' any, usb, usb:N, pci, pci:N), or a one-line error.

    The runtime's ``Delegate`` leaves a half-built object behind when the library does not load,
    whose ``__del__`` then prints an "Exception ignored ... AttributeError" traceback; that object
    is disarmed here, so the user sees only the message below.
    """
    options = {"device": device} if device else {}
    try:
        return runtime.load_delegate(edgetpu_library(), options)
    except (ValueError, OSError, RuntimeError) as exc:
        _disarm_partial_delegates(exc)
        text = " ".join(str(exc).split())
    raise diagnose_delegate_failure(text, device, scan())


def _disarm_partial_delegates(exc: BaseException) -> None:
    """Mark every half-constructed ``Delegate`` in the exception chain's frames as owning nothing."""
    seen: set[int] = set()
    chain: BaseException | None = exc
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        tb: TracebackType | None = chain.__traceback__
        while tb is not None:
            obj = tb.tb_frame.f_locals.get("self")
            if type(obj).__name__ == "Delegate" and getattr(obj, "_delegate_ptr", None) is None:
                obj._library = None  # its __del__ then has nothing to destroy (the pointer is NULL)
            tb = tb.tb_next
        chain = chain.__cause__ or chain.__context__


# Ends the hints of failures the CPU could stand in for; dropped where model.fallback is already cpu.
OR_FALLBACK = ", or set model.fallback: cpu"


def diagnose_delegate_failure(text: str, device: str, devices: Sequence[EdgeTpuDevice]) -> UnavailableError:
    """Why the delegate did not load, from its message and what the system shows."""
    library = edgetpu_library()
    where = f" matching model.edgetpu_device={device!r}" if device else ""
    if "cannot open shared object" in text or "No such file" in text or "image not found" in text:
        return UnavailableError(
            f"the Edge TPU runtime ({library}) is not installed",
            "install libedgetpu1-std from Coral's apt repository (see docs: Edge TPU)" + OR_FALLBACK,
        )
    chosen = matching(list(devices), device)
    if not devices:
        return UnavailableError(
            "no Edge TPU found (no USB device 1a6e:089a or 18d1:9302, no /dev/apex_*)",
            "plug the Coral in (USB 3 port; on a Pi use a powered hub if it resets)" + OR_FALLBACK,
        )
    if not chosen:
        found = ", ".join(f"{d.kind} {d.ident}" for d in devices)
        return UnavailableError(
            f"no Edge TPU{where} (found: {found})", "set model.edgetpu_device to usb, usb:N, pci or pci:N, or empty"
        )
    denied = [d for d in chosen if d.accessible is False]
    if denied:
        d = denied[0]
        group = "plugdev" if d.kind == "usb" else "apex"
        return UnavailableError(
            f"permission denied on {d.node} (Edge TPU {d.ident})",
            f"add this user to the {group} group (sudo usermod -aG {group} $USER, then log in again) and install "
            "Coral's udev rule (libedgetpu1-std ships it); or run as a user that may open it",
        )
    return UnavailableError(
        f"the Edge TPU{where} could not be opened: {text or 'no reason given'}",
        "replug the Coral (another process may hold it; see `edgepose doctor` and dmesg)" + OR_FALLBACK,
    )


# -- opening the engine -----------------------------------------------------------------------


def wants_edgetpu(model: ModelConfig, pair: ModelPair, scan: DeviceScan) -> bool:
    """``edgetpu``: always; ``auto``: when an Edge TPU is present and an Edge TPU model exists."""
    if model.accelerator == "edgetpu":
        return True
    if model.accelerator == "cpu":
        return False
    present = matching(scan(), model.edgetpu_device)
    if present and pair.edgetpu is not None:
        return True
    if present:
        log.info("an Edge TPU is present but there is no Edge TPU model for %s: running on the CPU", model.name)
    else:
        log.info("no Edge TPU found: running %s on the CPU", model.name)
    return False


def open_engine(
    model: ModelConfig,
    dirs: Sequence[Path],
    health: Health | None = None,
    on_fallback: Callable[[str], None] | None = None,
    runtime: Runtime | None = None,
    scan: DeviceScan = find_edgetpus,
    manifest: Mapping[str, ModelEntry] | None = None,
) -> EngineChoice:
    """A supervised engine for the configured network on the configured accelerator.

    ``on_fallback(reason)`` is called whenever the CPU replaces the Edge TPU, at start or later.
    """
    runtime = runtime or import_runtime()
    pair = resolve_pair(model, dirs, manifest)
    policy = SupervisorPolicy.from_config(model)
    notify = on_fallback or (lambda _reason: None)

    spill = spill_directory([Path(tempfile.gettempdir()), cache_dir(model.cache_dir)])
    dense = wants_dense(model.sparse_weights)

    def cpu_builder(path: Path, first: ModelFile | None = None) -> Callable[[], LiteRtEngine]:
        # The first build loads ``first`` (read already); a rebuild reads the file again, so what the
        # builder keeps is a name, not a copy of the model. Sparse weights load from a dense copy
        # (model.sparse_weights), and BlazePose's segmentation branch is cut.
        held = [first] if first is not None else []

        def build() -> LiteRtEngine:
            loaded = held.pop() if held else read_model(path)
            if dense:
                loaded = dense_model(loaded, model.cache_dir)
            loaded = without_unread_outputs(loaded)
            return LiteRtEngine(loaded, model.threads, None, runtime, "cpu", spill_to=spill)

        return build

    if not wants_edgetpu(model, pair, scan):
        cpu_model = read_model(_cpu_path(model, pair))
        engine = SupervisedEngine(cpu_builder(cpu_model.path, cpu_model), "cpu", policy, health, inline=True)
        return EngineChoice(engine, "cpu", cpu_model.path, decoder_options=cpu_model.decoder_options)

    tpu_model = _edgetpu_model(pair)
    fallback_path = pair.cpu if model.fallback == "cpu" else None
    if model.fallback == "cpu" and fallback_path is None:
        raise InputError(
            f"model.fallback is cpu but the CPU model of {model.name} is missing: {pair.cpu_error}",
            "fetch the CPU variant too, or set model.name to it",
        )
    try:
        first = load_edgetpu_delegate(runtime, model.edgetpu_device, scan)
    except UnavailableError as exc:
        if fallback_path is None:
            raise
        reason = f"Edge TPU unavailable: {exc.message}"
        fix = (exc.hint or "").removesuffix(OR_FALLBACK)  # the fallback is what is happening: not advice
        log.error("FALLING BACK TO THE CPU (model.fallback: cpu): %s; fix: %s", reason, fix)
        notify(reason)
        cpu_model = read_model(fallback_path)
        engine = SupervisedEngine(cpu_builder(fallback_path, cpu_model), "cpu", policy, health, inline=True)
        return EngineChoice(engine, "cpu", fallback_path, reason, cpu_model.decoder_options)

    delegates = [first]  # the probe's delegate serves the first build; rebuilds load a fresh one
    tpu_path, tpu_held = tpu_model.path, [tpu_model]  # so is the model read; a rebuild reads the file again

    def build_tpu() -> LiteRtEngine:
        delegate = delegates.pop() if delegates else load_edgetpu_delegate(runtime, model.edgetpu_device, scan)
        loaded = tpu_held.pop() if tpu_held else read_model(tpu_path)
        return LiteRtEngine(loaded, model.threads, [delegate], runtime, "edgetpu", spill_to=spill)

    fallback = cpu_builder(fallback_path) if fallback_path is not None else None
    engine = SupervisedEngine(build_tpu, "edgetpu", policy, health, fallback, on_fallback)
    return EngineChoice(engine, "edgetpu", tpu_model.path, decoder_options=tpu_model.decoder_options)


def _cpu_path(model: ModelConfig, pair: ModelPair) -> Path:
    """The CPU file; an Edge TPU model named with ``accelerator: cpu`` is taken as meant, and refused."""
    if pair.named_edgetpu and model.accelerator == "cpu" and pair.edgetpu is not None:
        return pair.edgetpu
    if pair.cpu is not None:
        return pair.cpu
    if pair.edgetpu is not None:  # only the Edge TPU file exists: let the engine refuse it clearly
        return pair.edgetpu
    raise pair.cpu_error or InputError(f"model {model.name!r} not found")


def _edgetpu_model(pair: ModelPair) -> ModelFile:
    if pair.edgetpu is not None:
        return read_model(pair.edgetpu)
    if pair.cpu is None:
        raise pair.edgetpu_error or InputError("no model found")
    cpu = read_model(pair.cpu)
    log.warning(
        "%s is not compiled for the Edge TPU: it runs, but nothing is accelerated (%s)",
        cpu.path.name,
        pair.edgetpu_error.message if pair.edgetpu_error else "no Edge TPU variant",
    )
    return cpu
