"""Behaviours built on tracked poses: pose matching, fall detection, repetition counting.

Each behaviour is a pure part fed plain per-track values (keypoints in source-frame pixels,
angles in degrees, timestamps in seconds from an injected clock) that returns what it saw happen;
none of them reads a clock, a file or the network by itself. :mod:`~edgepose.analysis.behaviours.stage`
runs them over a frame and gives the analysis stage its events
(:class:`edgepose.analysis.events.Event`).
"""

# The settings (edgepose.analysis.behaviours.settings) are declared with edgepose.config's fields and are part
# of its Config: importing the config first settles that cycle, whichever module is imported first.
import edgepose.config  # noqa: F401  isort: skip
