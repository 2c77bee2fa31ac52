"""Behaviours built on tracked poses: pose matching, fall detection, repetition counting.

Each behaviour is a pure part fed plain per-track values (keypoints in source-frame pixels,
angles in degrees, timestamps in seconds from an injected clock) that returns :class:`Event`
values; none of them reads a clock, a file or the network by itself.
"""

# The settings (edgepose.analysis.behaviours.settings) are declared with edgepose.config's fields and are part
# of its Config: importing the config first settles that cycle, whichever module is imported first.
import edgepose.config  # noqa: F401  isort: skip
from edgepose.analysis.behaviours.events import Event

__all__ = ["Event"]
