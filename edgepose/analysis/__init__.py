"""From joints to meaning: joint angles, zones and events, computed after tracking and smoothing.

Pure functions over NumPy arrays (:mod:`~edgepose.analysis.angles`, :mod:`~edgepose.analysis.polygon`,
:mod:`~edgepose.analysis.anchors`), small state machines fed an explicit timestamp
(:mod:`~edgepose.analysis.zones`), the event values and their documents
(:mod:`~edgepose.analysis.events`), and the pipeline stage tying them together
(:mod:`~edgepose.analysis.stage`).
"""

from edgepose.analysis.angles import ANGLE_NAMES, ANGLES, joint_angles
from edgepose.analysis.events import Event
from edgepose.analysis.findings import Analysis
from edgepose.analysis.stage import AnalysisStage, make_analysis

__all__ = ["ANGLES", "ANGLE_NAMES", "Analysis", "AnalysisStage", "Event", "joint_angles", "make_analysis"]
