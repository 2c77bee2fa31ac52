"""A model whose input size is left open (-1 in its shape signature) runs only where a decoder sizes it.

MoveNet MultiPose's decoder chooses the input size per frame; every other decoder reads a fixed
input, so a model of theirs with an open size is refused at load rather than run at its
placeholder shape (1x1). An open batch alone is no open size.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode import FORMATS, choose_decoder
from edgepose.errors import InputError
from edgepose.inference.engine import TensorSpec

F32 = np.dtype(np.float32)


def grid(name: str, channels: int) -> TensorSpec:
    return TensorSpec(name, 0, (1, 9, 9, channels), F32)


# format: its outputs
OUTPUTS = {
    "movenet_singlepose": (TensorSpec("out", 0, (1, 1, 17, 3), F32),),
    "posenet_coral": (grid("float_heatmaps", 17), grid("float_short_offsets", 34), grid("float_mid_offsets", 64)),
    "posenet_single": (grid("heatmaps", 17), grid("offsets", 34)),
    "heatmap": (TensorSpec("heatmaps", 0, (1, 64, 48, 17), F32),),
}


def image_input(shape: tuple[int, ...], signature: tuple[int, ...]) -> TensorSpec:
    return TensorSpec("image", 0, shape, np.dtype(np.uint8), signature=signature)


@pytest.mark.parametrize("fmt", list(OUTPUTS))
def test_a_fixed_input_decoder_refuses_an_open_size(fmt: str) -> None:
    with pytest.raises(InputError, match=r"input size is left open \(\[1, -1, -1, 3\]\)") as caught:
        choose_decoder(FORMATS, OUTPUTS[fmt], image_input((1, 1, 1, 3), (1, -1, -1, 3)), DecoderConfig(), "m")
    assert fmt in caught.value.message and "fixed input size" in (caught.value.hint or "")


@pytest.mark.parametrize("fmt", list(OUTPUTS))
def test_an_open_batch_alone_is_not_refused(fmt: str) -> None:
    spec = image_input((1, 257, 257, 3), (-1, 257, 257, 3))
    assert not spec.dynamic
    assert choose_decoder(FORMATS, OUTPUTS[fmt], spec, DecoderConfig(), "m").format == fmt


def test_movenet_multipose_sizes_its_open_input() -> None:
    outputs = (TensorSpec("out", 0, (1, 6, 56), F32),)
    decoder = choose_decoder(FORMATS, outputs, image_input((1, 1, 1, 3), (1, -1, -1, 3)), DecoderConfig(), "m")
    assert decoder.format == "movenet_multipose"
    assert decoder.input_size_for(640, 480) == (256, 192)
