"""The decoder interface, and choosing a decoder from a model's output tensors.

A decoder knows one output format. It turns the raw output arrays of one invoke into poses in
source-frame pixels, given the :class:`~edgepose.preprocess.Region` the input was cut from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.errors import InputError
from edgepose.inference.engine import TensorSpec
from edgepose.pose import Pose
from edgepose.preprocess import Region


class Decoder(Protocol):
    """Turns one invoke's outputs into poses."""

    format: str
    multi_person: bool

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]: ...


@dataclass(frozen=True)
class OutputFormat:
    """A known output layout: a name, a test on the output specs, and how to build its decoder."""

    name: str
    description: str
    matches: Callable[[Sequence[TensorSpec], TensorSpec], bool]
    build: Callable[[Sequence[TensorSpec], TensorSpec, DecoderConfig], Decoder]


def choose_decoder(
    formats: Sequence[OutputFormat],
    outputs: Sequence[TensorSpec],
    input_spec: TensorSpec,
    config: DecoderConfig,
    model_name: str = "model",
) -> Decoder:
    """The decoder for the first format that matches; an :class:`InputError` listing the known ones."""
    for fmt in formats:
        if fmt.matches(outputs, input_spec):
            return fmt.build(outputs, input_spec, config)
    shapes = ", ".join(f"{o.name} {list(o.shape)} {o.dtype}" for o in outputs)
    known = "; ".join(f"{f.name} ({f.description})" for f in formats)
    raise InputError(f"{model_name}: unknown output format: {shapes}", f"known formats: {known}")
