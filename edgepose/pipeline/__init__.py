"""The pipeline: lanes (one a camera), the loops that drive them, and the hand-off between stages.

:mod:`~edgepose.pipeline.runner` holds :class:`~edgepose.pipeline.runner.Pipeline`, the serial and
overlapped loops; :mod:`~edgepose.pipeline.scheduling` decides which camera goes next;
:mod:`~edgepose.pipeline.handoff` passes frames from capture threads to the loop. The stages
themselves live in their own packages (sources, estimation, inference, decode, tracking, analysis,
sinks); the service layer wraps the pipeline from outside (:mod:`edgepose.service`).
"""
