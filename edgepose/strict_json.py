"""JSON from other programs, parsed strictly: a value or one :class:`BadJSONError`, never another error.

Python's ``json`` takes ``NaN``, ``Infinity`` and ``1e400`` (as inf), which are not JSON and which
no edgepose document holds; and it raises ``RecursionError`` on 100,000 nested ``[``. Everything
edgepose reads from outside (MQTT documents, recorded lines, pose-library files) goes through
:func:`loads`, so those become a refusal with a cause, counted by the reader like any bad input.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # nesting of arrays and objects; a pose document has 4 (document, poses, person, keypoint)


class BadJSONError(ValueError):
    """Not a JSON value edgepose takes; ``cause`` is a short name to count it by."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(detail)
        self.cause = cause


def _constant(name: str) -> Any:
    raise BadJSONError("non-finite number", f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSONError("non-finite number", f"{text[:40]} is too large for a number")
    return value


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The value of ``data`` (UTF-8 bytes or text); :class:`BadJSONError` for anything else."""
    try:
        value = json.loads(data, parse_constant=_constant, parse_float=_finite)
    except BadJSONError:
        raise
    except RecursionError:
        raise BadJSONError("too deep", f"nested more than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise BadJSONError("not JSON", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing more than 4300 digits
        raise BadJSONError("not JSON", str(exc)[:200]) from None
    where = too_deep(value, max_depth)
    if where is not None:
        raise BadJSONError("too deep", f"nested more than {max_depth} levels (at {where})")
    return value


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The path of the first container nested deeper than ``max_depth``, or None (iterative: no recursion)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
        else:
            continue
        if depth > max_depth:
            return path or "(document)"
        stack.extend((child, depth + 1, f"{path}/{key}") for key, child in children)
    return None


def non_finite(value: Any) -> str | None:
    """The path of the first NaN or infinite float in a parsed value, or None (iterative)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return path or "(document)"
        elif isinstance(item, dict):
            stack.extend((child, f"{path}/{key}") for key, child in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{path}/{i}") for i, child in enumerate(item))
    return None
