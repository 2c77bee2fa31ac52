"""From joints to meaning: joint angles, zones and events, computed after tracking and smoothing.

Pure functions over NumPy arrays (:mod:`~edgepose.analysis.angles`, :mod:`~edgepose.analysis.polygon`,
:mod:`~edgepose.analysis.anchors`), small state machines fed an explicit timestamp
(:mod:`~edgepose.analysis.zones`), the event values and their documents
(:mod:`~edgepose.analysis.events`), what the stage finds (:mod:`~edgepose.analysis.findings`), the
behaviours (:mod:`~edgepose.analysis.behaviours`: pose matching, falls, repetitions) and the
pipeline stage tying them together (:mod:`~edgepose.analysis.stage`). The one table of joint
angles is :mod:`~edgepose.analysis.joints`, plain data. Importing the package imports none of
them: the command line's parser reads the angles' names without NumPy.
"""
