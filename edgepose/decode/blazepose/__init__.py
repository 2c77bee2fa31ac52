"""BlazePose (MediaPipe Pose): a person detector, then a landmark model on a rotated crop.

Pure parts, one module each: :mod:`.anchors` (SSD anchors from MediaPipe's options),
:mod:`.detection` (decoding against them, weighted NMS), :mod:`.region` (the rotated square and
cutting it out), :mod:`.landmarks` (39 landmarks, heatmap refinement, mapping back) and
:mod:`.outputs` (which output is which). The two-stage estimator that runs them on frames is
:mod:`edgepose.estimation.blazepose`.
"""
