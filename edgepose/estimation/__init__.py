"""From a frame to poses: preprocessing, resizing, the estimators that drive an engine and a decoder.

:mod:`~edgepose.estimation.estimator` is the single-stage estimator (MoveNet, PoseNet, YOLO-pose);
:mod:`~edgepose.estimation.blazepose` the two-stage one (detector, then landmarks);
:mod:`~edgepose.estimation.preprocess` and :mod:`~edgepose.estimation.resize` fill the model's
input tensor.
"""
