"""The one rule for a device's and a camera's name, shared by the config, the topics and the recorder.

A name is one MQTT topic level, one directory of ``edgepose record`` (``<dir>/<device>/<camera>/``),
a Home Assistant object id and a ``/metrics`` label, as it is. So a name the config accepts is one
every consumer can file, and a name another program puts in a document or a topic is checked by the
same rule before it is used as any of those.

- device: letters, digits, ``_``, ``-`` and ``.`` (a host name), not starting with ``.`` (so never
  ``.`` or ``..``), at most 253 characters (a DNS name; a file name may hold 255 bytes).
- camera: letters, digits, ``_`` and ``-``, at most 64.
"""

from __future__ import annotations

import re

DEVICE_NAME = r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,252}"
CAMERA_NAME = r"[A-Za-z0-9_-]{1,64}"

_DEVICE = re.compile(DEVICE_NAME)
_CAMERA = re.compile(CAMERA_NAME)


def is_device_name(value: object) -> bool:
    return isinstance(value, str) and _DEVICE.fullmatch(value) is not None


def is_camera_name(value: object) -> bool:
    return isinstance(value, str) and _CAMERA.fullmatch(value) is not None


def name_problem(value: object, what: str) -> str | None:
    """Why ``value`` is not a ``what`` ("device" or "camera") name, in one line; None if it is one."""
    ok = is_device_name(value) if what == "device" else is_camera_name(value)
    if ok:
        return None
    shown = repr(value[:40]) + ("..." if len(value) > 40 else "") if isinstance(value, str) else type(value).__name__
    rule = (
        "letters, digits, _ - and . (not first), at most 253"
        if what == "device"
        else ("letters, digits, _ and -, at most 64")
    )
    return f"{what} {shown} is not a {what} name ({rule})"
