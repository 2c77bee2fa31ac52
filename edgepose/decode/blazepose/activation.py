"""The logistic function, without overflow warnings for large logits."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float32; a logit of -100 gives 0 (as MediaPipe's C++ does), not a warning."""
    x = np.asarray(x, np.float32)
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32, copy=False)
