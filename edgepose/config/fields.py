"""Declaring config fields: a default, a one-line doc and the limits, in one place.

Every section is a frozen dataclass whose fields are declared with :func:`setting`; the validator
(:mod:`edgepose.config.validate`) reads the type hints and this metadata, so a limit is written
once and enforced everywhere, and the documented default config can be checked against it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    factory: Any = dataclasses.MISSING,
    secret: bool = False,
    pattern: str | None = None,
) -> Any:
    """A config field. ``min``/``max`` bound numbers (inclusive); ``pattern`` is a regex for strings."""
    meta = {"doc": doc, "min": min, "max": max, "secret": secret, "pattern": pattern}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)
