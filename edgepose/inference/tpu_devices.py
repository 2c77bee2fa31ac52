"""Finding Edge TPUs without opening them: USB ids in sysfs, ``/dev/apex_*`` for PCIe/M.2.

A USB Coral enumerates as ``1a6e:089a`` (Global Unichip) until the runtime first loads its
firmware, then re-enumerates as ``18d1:9302`` (Google). Both count as present. Reading sysfs needs
no permissions, so this also tells "no device" apart from "device, but this user cannot open it".
Every root is a parameter so tests can point the scan at a directory they build.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

USB_IDS = {("1a6e", "089a"): "usb (before first use)", ("18d1", "9302"): "usb"}
SYS_USB = Path("/sys/bus/usb/devices")
DEV = Path("/dev")


@dataclass(frozen=True)
class EdgeTpuDevice:
    """One Edge TPU as the system lists it.

    ``node`` is the file the runtime opens (``/dev/bus/usb/BBB/DDD`` or ``/dev/apex_N``);
    ``accessible`` is whether this process may open it read-write (None when unknown).
    """

    kind: str  # "usb" or "pci"
    ident: str  # "1a6e:089a", "18d1:9302" or "apex_0"
    state: str  # human description, e.g. "usb (before first use)"
    node: Path | None
    accessible: bool | None


def find_edgetpus(sys_usb: Path = SYS_USB, dev: Path = DEV) -> list[EdgeTpuDevice]:
    """Every Edge TPU the system shows, USB first, in a stable order."""
    found = []
    try:
        entries = sorted(sys_usb.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        try:
            vendor = (entry / "idVendor").read_text().strip().lower()
            product = (entry / "idProduct").read_text().strip().lower()
        except OSError:
            continue  # interfaces and hubs without ids
        state = USB_IDS.get((vendor, product))
        if state is None:
            continue
        node = _usb_node(entry, dev)
        found.append(EdgeTpuDevice("usb", f"{vendor}:{product}", state, node, _accessible(node)))
    for node in sorted(dev.glob("apex_*")):
        found.append(EdgeTpuDevice("pci", node.name, "pci", node, _accessible(node)))
    return found


def _usb_node(entry: Path, dev: Path) -> Path | None:
    try:
        bus = int((entry / "busnum").read_text())
        num = int((entry / "devnum").read_text())
    except (OSError, ValueError):
        return None
    return dev / "bus" / "usb" / f"{bus:03d}" / f"{num:03d}"


def _accessible(node: Path | None) -> bool | None:
    if node is None or not node.exists():
        return None
    return os.access(node, os.R_OK | os.W_OK)


def matching(devices: list[EdgeTpuDevice], selector: str) -> list[EdgeTpuDevice]:
    """The devices a ``model.edgetpu_device`` string can mean: '' any, usb, usb:N, pci, pci:N."""
    if not selector:
        return list(devices)
    kind, _, index = selector.partition(":")
    of_kind = [d for d in devices if d.kind == kind]
    if not index:
        return of_kind
    n = int(index)
    return of_kind[n : n + 1]


def library_loads(name: str) -> bool:
    """Whether the dynamic loader can load ``name`` (e.g. libedgetpu.so.1) into this process.

    ``ctypes.CDLL`` is the loader's own answer (LD_LIBRARY_PATH, ldconfig's cache): a library that
    loads here is one the runtime's ``load_delegate`` can load too.
    """
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def library_path(stem: str = "edgetpu") -> str | None:
    """What ldconfig knows of ``lib<stem>`` (for reports), or None."""
    return ctypes.util.find_library(stem)
