"""Where the repository and the shared assets are, and the shared model files' names.

One setting points the tests at the shared assets: ``EDGEPOSE_SHARED`` (default ``../shared`` from
the project root). Nothing is copied into the repository and nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EDGEPOSE_SHARED", ROOT.parent / "shared")).resolve()
MOVENET = "movenet_single_pose_lightning_ptq.tflite"
MOVENET_TPU = "movenet_single_pose_lightning_ptq_edgetpu.tflite"
POSENET = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
POSENET_TPU = "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite"
