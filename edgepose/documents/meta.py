"""The ``meta`` document: what a new subscriber needs to interpret poses (published retained)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgepose import __version__
from edgepose.config.cameras import camera_configs, camera_names
from edgepose.config.sections import Config
from edgepose.decode.blazepose.landmarks import LANDMARK_NAMES, LANDMARK_SKELETON
from edgepose.decode.blazepose.outputs import FORMAT as BLAZEPOSE_FORMAT
from edgepose.keypoints import KEYPOINT_NAMES, SKELETON

if TYPE_CHECKING:
    from edgepose.estimation.loaded import Loaded

META_SCHEMA = "edgepose.meta/1"  # edgepose/schema/meta.v1.json


def meta_document(config: Config, loaded: Loaded) -> dict[str, Any]:
    """The run's model, accelerator and keypoint layout; the MQTT sink adds its ``topics``."""
    spec = loaded.estimator.engine.input
    return {
        "schema": META_SCHEMA,
        "version": __version__,
        "device": config.device_id,
        "camera": camera_names(config)[0],  # the first camera (the one camera)
        **({"site": config.site} if config.site else {}),
        "cameras": list(camera_names(config)),  # every camera of this daemon, in the order of cameras
        "model": loaded.model_name,
        "format": loaded.estimator.decoder.format,
        **({"ignored_outputs": list(ig)} if (ig := loaded.estimator.decoder.ignored_outputs) else {}),
        "accelerator": loaded.accelerator,
        "fallback": loaded.fallback or None,  # set when model.fallback: cpu replaced the Edge TPU
        "threads": config.model.threads,
        "input_size": [spec.shape[2], spec.shape[1]],
        "keypoints": list(KEYPOINT_NAMES),
        "skeleton": [list(e) for e in SKELETON],
        **landmark_meta(loaded.estimator.decoder.format),
        **analysis_meta(config),
    }


def landmark_meta(model_format: str) -> dict[str, Any]:
    """BlazePose: the names of the 33 landmarks of every pose's ``landmarks`` and ``world``, and their skeleton."""
    if model_format != BLAZEPOSE_FORMAT:
        return {}
    return {"landmarks": list(LANDMARK_NAMES), "landmark_skeleton": [list(e) for e in LANDMARK_SKELETON]}


def analysis_meta(config: Config) -> dict[str, Any]:
    """With ``analysis`` on: the angle names and their point triples, the enabled behaviours (and the
    exercises counted), and each camera's zones (a zone of every camera once per camera, each entry
    with its ``camera``)."""
    a = config.analysis
    if not a.enabled:
        return {}
    from edgepose.analysis.angles import angle_table

    out: dict[str, Any] = {}
    if a.angles:
        out["angles"] = angle_table()
    from edgepose.analysis.behaviour import enabled_behaviours

    b = a.behaviours
    out["behaviours"] = list(enabled_behaviours(b))
    if b.reps.enabled:
        out["exercises"] = [r.name for r in b.reps.rules()]
    zones = [
        (camera.source.camera, z)
        for camera in camera_configs(config)
        for z in a.zones
        if z.camera in ("", camera.source.camera)
    ]
    if zones:
        out["zones"] = [
            {
                "name": z.name,
                "camera": camera,
                "polygon": [list(p) for p in z.polygon],
                "anchor": z.anchor,
                "enter_after": z.enter_after,
                "leave_after": z.leave_after,
            }
            for camera, z in zones
        ]
    return out
