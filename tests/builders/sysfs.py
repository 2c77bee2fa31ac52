"""A fake ``/sys/bus/usb/devices`` and ``/dev`` tree, as the kernel lays them out."""

from __future__ import annotations

from pathlib import Path


def fake_sysfs(root: Path, devices: dict[str, tuple[str, str, int, int]]) -> tuple[Path, Path]:
    """A /sys/bus/usb/devices tree and a /dev with bus nodes, as the kernel lays them out."""
    sys_usb, dev = root / "sys", root / "dev"
    sys_usb.mkdir(parents=True)
    for name, (vendor, product, bus, num) in devices.items():
        d = sys_usb / name
        d.mkdir()
        for key, value in (("idVendor", vendor), ("idProduct", product), ("busnum", bus), ("devnum", num)):
            (d / key).write_text(f"{value}\n")
        node = dev / "bus" / "usb" / f"{bus:03d}" / f"{num:03d}"
        node.parent.mkdir(parents=True, exist_ok=True)
        node.touch()
    (sys_usb / "1-1:1.0").mkdir()  # an interface directory: no ids
    return sys_usb, dev
