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


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The value of ``data`` (UTF-8 bytes or text); :class:`BadJSONError` for anything else."""
    try:
        value = json.loads(data, parse_constant=_constant)
    except BadJSONError:
        raise
    except RecursionError:
        raise BadJSONError("too deep", f"nested more than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise BadJSONError("not JSON", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing more than 4300 digits
        raise BadJSONError("not JSON", str(exc)[:200]) from None
    problem = _shape(value, max_depth)
    if problem is not None:
        raise BadJSONError(*problem)
    return value


def _shape(value: Any, max_depth: int) -> tuple[str, str] | None:
    """One pass, level by level (no recursion, no Python call per number): a container nested deeper
    than ``max_depth``, or a float that overflowed to inf (``1e400``: json reads it so)."""
    if type(value) is float and value - value != 0.0:
        return "non-finite number", f"{value} (a number too large for a double)"
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 1
    while level:
        if depth > max_depth:
            return "too deep", f"nested more than {max_depth} levels"
        deeper = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                kind = type(child)
                if kind is dict or kind is list:
                    deeper.append(child)
                elif kind is float and child - child != 0.0:  # inf - inf is NaN
                    return "non-finite number", f"{child} (a number too large for a double)"
        level = deeper
        depth += 1
    return None


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The path of the first container nested deeper than ``max_depth``, or None (iterative: no recursion)."""
    if not isinstance(value, dict | list | tuple):
        return None
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > max_depth:
            return path or "(document)"
        children = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend(
            (child, depth + 1, f"{path}/{key}") for key, child in children if isinstance(child, dict | list | tuple)
        )
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
