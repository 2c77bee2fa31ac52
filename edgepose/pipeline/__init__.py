"""The pipeline: lanes (one a camera), the loops that drive them, and what they hand on.

:mod:`~edgepose.pipeline.lanes` holds a camera's lane; :mod:`~edgepose.pipeline.changes` the
changes queued to a running pipeline (a stage swapped, a camera added or removed);
:mod:`~edgepose.pipeline.runner` the :class:`~edgepose.pipeline.runner.Pipeline` and its serial
and overlapped loops; :mod:`~edgepose.pipeline.publisher` builds each frame's one output value for
the sinks and hooks; :mod:`~edgepose.pipeline.scheduling` decides which camera goes next;
:mod:`~edgepose.pipeline.handoff` passes frames from capture threads to the loop. The stages
themselves live in their own packages (sources, estimation, inference, decode, tracking, analysis,
sinks); the service layer wraps the pipeline from outside (:mod:`edgepose.service`).
"""
