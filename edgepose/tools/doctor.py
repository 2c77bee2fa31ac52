"""``edgepose doctor``: what works on this machine, and what to do about what does not.

Every check is a pure-ish function returning :class:`Check` values; the places it looks (sysfs,
/dev, the broker address) come from arguments, so tests can aim them at what they built. Nothing
here opens the Edge TPU or the camera: doctor must be safe to run beside a running daemon.
"""

from __future__ import annotations

import grp
import importlib
import os
import platform
import pwd
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edgepose import __version__, platforms, syspackages, system
from edgepose.config.sections import Config
from edgepose.errors import EdgeposeError
from edgepose.inference.tpu_devices import DEV, SYS_USB, find_edgetpus, library_loads, library_path

STATUSES = ("ok", "info", "warn", "fail")


@dataclass(frozen=True)
class Check:
    """One finding. ``id`` is stable for machines (``--json``); ``status`` is ok, info, warn or fail."""

    id: str
    status: str
    detail: str
    hint: str = ""


@dataclass(frozen=True)
class Places:
    """Where doctor looks; tests point these at directories they build."""

    sys_usb: Path = SYS_USB
    dev: Path = DEV


def run_checks(config: Config, places: Places = Places(), connect_timeout: float = 1.0) -> list[Check]:
    checks: list[Check] = []
    for section in (
        versions,
        lambda: camera(places.dev),
        lambda: edgetpu(config, places),
        groups,
        lambda: mqtt_broker(config, connect_timeout),
        lambda: models(config),
        host,
    ):
        try:
            checks += section()
        except Exception as exc:  # a broken check must not hide the others
            checks.append(Check("doctor.error", "fail", f"a check failed: {type(exc).__name__}: {exc}"))
    return checks


# -- sections ---------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> list[Check]:
    out = [
        Check("python", "ok", f"Python {platform.python_version()} ({sys.executable}), edgepose {__version__}"),
        _platform_check(platforms.verdict(platforms.read_platform())),
    ]
    try:
        from edgepose.inference.runtime import import_runtime

        runtime = import_runtime()
        out.append(Check("runtime", "ok", f"{runtime.name} {runtime.version}"))
    except EdgeposeError as exc:
        out.append(Check("runtime", "fail", exc.message, exc.hint or ""))
    import numpy

    out.append(Check("numpy", "ok", f"NumPy {numpy.__version__}"))
    abi = syspackages.abi_verdict(numpy.__version__, str(Path(numpy.__file__).parent.parent), syspackages.scan())
    out.append(Check("numpy.abi", abi.status, abi.detail, abi.hint))
    numba = _version("numba")
    out.append(
        Check("numba", "ok", f"Numba {numba}")
        if numba
        else Check(
            "numba", "warn", "Numba is not installed: decoders use the slower NumPy kernels", "pip install numba"
        )
    )
    for key, dist, what in (("opencv", "opencv-python-headless", "OpenCV"), ("paho-mqtt", "paho-mqtt", "paho-mqtt")):
        v = _version(dist) or _version(dist.replace("-headless", ""))
        out.append(Check(key, "ok" if v else "info", f"{what} {v}" if v else f"{what} is not installed"))
    return out


def _platform_check(v: platforms.Verdict) -> Check:
    return Check("platform", v.status, v.detail, v.hint)


def camera(dev: Path = DEV, importer: Callable[[str], Any] = importlib.import_module) -> list[Check]:
    from edgepose.sources.picamera2 import Picamera2MissingError, import_picamera2

    out = []
    cameras: list[Any] = []
    try:
        picamera2 = import_picamera2(importer)
    except Picamera2MissingError as exc:
        out.append(Check("camera.picamera2", "info", exc.message, exc.hint or ""))
    except EdgeposeError as exc:  # installed but broken: libcamera, the NumPy ABI, the venv
        out.append(Check("camera.picamera2", "fail", exc.message, exc.hint or ""))
    else:
        try:
            cameras = list(picamera2.Picamera2.global_camera_info())
        except Exception as exc:  # libcamera without a camera, or not a Pi
            out.append(Check("camera.picamera2", "warn", f"picamera2 imports but lists no camera: {exc}"))
        else:
            status = "ok" if cameras else "warn"
            out.append(Check("camera.picamera2", status, f"picamera2 imports; {len(cameras)} camera(s)"))
    videos = sorted(str(p) for p in dev.glob("video*"))
    if videos:
        out.append(Check("camera.v4l2", "ok", "video devices: " + ", ".join(videos)))
    else:
        out.append(Check("camera.v4l2", "info", f"no {dev}/video* devices"))
    if not cameras and not videos:
        out.append(
            Check("camera", "warn", "no camera found", "connect one, or run on files: edgepose run --source FILE")
        )
    else:
        out.append(Check("camera", "ok", "a camera is available"))
    return out


def edgetpu(config: Config, places: Places = Places()) -> list[Check]:
    from edgepose.inference.accelerator import edgetpu_library

    out = []
    devices = find_edgetpus(places.sys_usb, places.dev)
    if devices:
        for d in devices:
            access = {True: "accessible", False: "PERMISSION DENIED", None: "no device node"}[d.accessible]
            status = "fail" if d.accessible is False else "ok"
            hint = (
                "add this user to plugdev (USB) / apex (PCIe) and install Coral's udev rule" if status == "fail" else ""
            )
            out.append(
                Check("edgetpu.device", status, f"{d.kind} Edge TPU {d.ident} ({d.state}) at {d.node}: {access}", hint)
            )
    else:
        out.append(Check("edgetpu.devices", "info", "no Edge TPU found (no USB 1a6e:089a / 18d1:9302, no /dev/apex_*)"))
    library = edgetpu_library()
    if library_loads(library):
        out.append(Check("edgetpu.runtime", "ok", f"{library} loads ({library_path() or 'found by the loader'})"))
    else:
        status = "fail" if devices or config.model.accelerator == "edgetpu" else "info"
        out.append(
            Check(
                "edgetpu.runtime",
                status,
                f"{library} is not installed",
                "install libedgetpu1-std from Coral's apt repository",
            )
        )
    usable = [d for d in devices if d.accessible is not False]
    if devices and usable and library_loads(library):
        out.append(Check("edgetpu", "ok", f"{len(usable)} Edge TPU(s) usable: model.accelerator edgetpu or auto works"))
    elif devices:
        out.append(Check("edgetpu", "fail", "an Edge TPU is attached but cannot be used (see above)"))
    else:
        out.append(Check("edgetpu", "info", "no Edge TPU: models run on the CPU"))
    pycoral = _version("pycoral")
    out.append(
        Check(
            "edgetpu.pycoral",
            "info",
            f"pycoral {pycoral} (optional)" if pycoral else "pycoral: not installed (optional, never required)",
        )
    )
    return out


def groups(user_groups: Iterable[int] | None = None, uid: int | None = None) -> list[Check]:
    uid = os.getuid() if uid is None else uid
    name = _user_name(uid)
    gids = set(os.getgroups() if user_groups is None else user_groups)
    member = {g.gr_name for g in grp.getgrall() if g.gr_gid in gids}
    out = []
    for group, why in (("plugdev", "USB Coral"), ("video", "cameras"), ("apex", "PCIe Coral")):
        try:
            grp.getgrnam(group)
        except KeyError:
            out.append(Check(f"groups.{group}", "info", f"no {group} group on this system ({why})"))
            continue
        if uid == 0 or group in member:
            out.append(Check(f"groups.{group}", "ok", f"{name} may use {why} ({'root' if uid == 0 else group})"))
        else:
            out.append(
                Check(
                    f"groups.{group}",
                    "warn",
                    f"{name} is not in {group} ({why})",
                    f"sudo usermod -aG {group} {name}, then log in again",
                )
            )
    return out


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def mqtt_broker(config: Config, timeout: float = 1.0) -> list[Check]:
    host, port = config.mqtt.host, config.mqtt.port
    used = "mqtt" in config.sinks
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return [
            Check(
                "mqtt.broker",
                "fail" if used else "warn",
                f"broker {host}:{port} is not reachable: {why}",
                "start it (sudo apt install mosquitto) or set mqtt.host / mqtt.port",
            )
        ]
    return [Check("mqtt.broker", "ok", f"broker {host}:{port} is reachable (TCP)")]


def models(config: Config) -> list[Check]:
    from edgepose.app import model_dirs
    from edgepose.inference.accelerator import resolve_pair
    from edgepose.inference.modelfile import read_model
    from edgepose.modelstore.fetch import sha256_of
    from edgepose.modelstore.manifest import load_manifest

    manifest = load_manifest()
    by_file = {e.file: e for e in manifest.values()}
    pair = resolve_pair(config.model, model_dirs(config), manifest)
    out = []
    for side, path, error in (("cpu", pair.cpu, pair.cpu_error), ("edgetpu", pair.edgetpu, pair.edgetpu_error)):
        if path is None:
            status = "warn" if side == "cpu" or config.model.accelerator == "edgetpu" else "info"
            out.append(
                Check(
                    f"models.{side}",
                    status,
                    error.message if error else "not found",
                    (error.hint or "") if error else "",
                )
            )
            continue
        try:
            read_model(path)
        except EdgeposeError as exc:
            out.append(Check(f"models.{side}", "fail", exc.message, exc.hint or ""))
            continue
        entry = by_file.get(path.name)
        if entry is not None and entry.sha256:
            ok = sha256_of(path) == entry.sha256
            verdict = "checksum matches the manifest" if ok else "CHECKSUM DIFFERS from the manifest"
            out.append(
                Check(
                    f"models.{side}",
                    "ok" if ok else "fail",
                    f"{path}: {verdict}",
                    "" if ok else f"edgepose models fetch {entry.name}",
                )
            )
        else:
            out.append(Check(f"models.{side}", "ok", f"{path}: a valid TFLite model (no pinned checksum)"))
    return out


def host() -> list[Check]:
    out = [Check("host.board", "info", system.board_model() or "not a Raspberry Pi (no device-tree model)")]
    governor = system.cpu_governor()
    if governor is None:
        out.append(Check("host.governor", "info", "CPU governor: not exposed"))
    else:
        status = "ok" if governor in ("performance", "ondemand", "schedutil") else "warn"
        out.append(
            Check(
                "host.governor",
                status,
                f"CPU governor: {governor}",
                ""
                if status == "ok"
                else "echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor",
            )
        )
    temp = system.cpu_temperature()
    if temp is None:
        out.append(Check("host.temperature", "info", "CPU temperature: not exposed"))
    else:
        status = "warn" if temp >= 80.0 else "ok"
        out.append(
            Check(
                "host.temperature",
                status,
                f"CPU temperature: {temp:.1f} °C",
                "add a heatsink or fan: the Pi throttles at 80-85 °C" if status == "warn" else "",
            )
        )
    flags = system.throttled()
    if flags is None:
        out.append(Check("host.throttling", "info", "throttling: unknown (no vcgencmd)"))
    else:
        now = [k for k, v in flags.items() if v and not k.endswith("_occurred")]
        ever = [k for k, v in flags.items() if v and k.endswith("_occurred")]
        status = "warn" if now else ("info" if ever else "ok")
        detail = "now: " + ", ".join(now) if now else ("since boot: " + ", ".join(ever) if ever else "none")
        out.append(
            Check(
                "host.throttling",
                status,
                f"throttling: {detail}",
                "use the official power supply" if "under_voltage" in now else "",
            )
        )
    return out


# -- reports ----------------------------------------------------------------------------------


def summary(checks: Sequence[Check]) -> dict[str, int]:
    return {s: sum(1 for c in checks if c.status == s) for s in STATUSES}


def to_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {"checks": [asdict(c) for c in checks], "summary": summary(checks)}


def render(checks: Sequence[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.status:5} {c.id:18} {c.detail}")
        if c.hint and c.status in ("warn", "fail"):
            lines.append(f"{'':5} {'':18} -> {c.hint}")
    counts = summary(checks)
    lines.append("")
    lines.append(", ".join(f"{counts[s]} {s}" for s in STATUSES))
    return "\n".join(lines)
