"""Decoders: model outputs to poses, one module per output format."""

from edgepose.decode import movenet_single
from edgepose.decode.base import Decoder, OutputFormat, choose_decoder

# Tried in order; the first whose test matches the model's outputs decodes it.
FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat(
        "movenet_singlepose",
        "MoveNet SinglePose [1,1,17,3]",
        movenet_single.matches,
        movenet_single.build,
    ),
)

__all__ = ["FORMATS", "Decoder", "OutputFormat", "choose_decoder"]
