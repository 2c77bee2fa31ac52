"""A model's outputs that nothing reads, cut off before the interpreter is built.

A BlazePose landmark model computes a person segmentation mask ``[1, 256, 256, 1]`` beside its
landmarks; edgepose does not read it (:mod:`edgepose.decode.blazepose.outputs`). Its branch is an
upsampling path at the full 256x256 resolution: left in, each interpreter holds about 15 MB of
activations for it (lite and full alike, with XNNPACK) and computes it every frame. The CPU engine
therefore loads the model without that output and the operators only it needs
(:func:`~edgepose.inference.surgery.drop_outputs`); the outputs that are read come from the same
operators on the same weights, so they are the same numbers.

Only BlazePose's mask is cut: the other decoders' ignored outputs are listed by ``models inspect``
and the ``meta`` document as outputs of the running model, and are small.
"""

from __future__ import annotations

import dataclasses

from edgepose.inference.engine import TensorSpec
from edgepose.inference.modelfile import ModelFile
from edgepose.inference.surgery import drop_outputs


def unread_outputs(model: ModelFile) -> tuple[str, ...]:
    """Names of the outputs of ``model`` edgepose never reads and may cut: a BlazePose landmark
    model's segmentation mask; () for every other model."""
    from edgepose.decode.blazepose.outputs import landmark_layout

    try:
        from edgepose.inference.flatbuffer import inputs_and_outputs

        inputs, outputs = inputs_and_outputs(model.content)
    except Exception:  # no flatbuffers package (tflite_runtime), or a graph it cannot walk: load it as it is
        return ()
    if len(inputs) != 1:
        return ()
    specs = [TensorSpec(o.name, i, o.shape, o.dtype) for i, o in enumerate(outputs)]
    layout = landmark_layout(specs, TensorSpec(inputs[0].name, 0, inputs[0].shape, inputs[0].dtype))
    return () if layout is None else tuple(outputs[i].name for i in layout.ignored)


def without_unread_outputs(model: ModelFile) -> ModelFile:
    """``model`` to load without its :func:`unread_outputs` (itself when it has none); the new
    file's ``dropped_outputs`` names them, so the estimator still lists them as not read."""
    unread = unread_outputs(model)
    if not unread:
        return model
    stripped = drop_outputs(model.content, unread, model.path)
    return dataclasses.replace(
        model, content=stripped.content, on_disk=False, dropped_outputs=model.dropped_outputs + unread
    )
