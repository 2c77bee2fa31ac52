"""The decoder interface, and choosing a decoder from a model's output tensors.

A decoder knows one output format. It turns the raw output arrays of one invoke into poses in
source-frame pixels, given the :class:`~edgepose.estimation.preprocess.Region` the input was cut from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from edgepose.config.sections import DecoderConfig
from edgepose.errors import FrameError, InputError
from edgepose.estimation.preprocess import DEFAULT_CONVENTION, InputConvention, Region
from edgepose.inference.engine import TensorSpec
from edgepose.kernels import Kernels, load_kernels, warmup
from edgepose.pose import Pose


@dataclass(frozen=True, slots=True)
class Decoded:
    """One invoke's poses (source pixels), and the pose a crop region follows into the next frame.

    ``anchor`` may be a pose that did not pass the pose-score threshold (MoveNet SinglePose follows
    a person first seen faintly, as Google's tutorial does); None: the best of ``poses``.
    """

    poses: list[Pose]
    anchor: Pose | None = None


class Decoder(Protocol):
    """Turns one invoke's outputs into poses. Concrete decoders subclass it for its defaults.

    Implemented by :mod:`~edgepose.decode.movenet_single`, :mod:`~edgepose.decode.movenet_multi`,
    :mod:`~edgepose.decode.posenet_single`, :mod:`~edgepose.decode.posenet_multi` and
    :mod:`~edgepose.decode.heatmap`; :func:`choose_decoder` picks one by the model's outputs.
    Decoders hold no per-stream state: what carries from frame to frame (the crop region) is
    the :class:`~edgepose.decode.crop_region.CropRegion` stage's.
    """

    format: str
    multi_person: bool
    # Outputs of the model this decoder does not read (a PoseNet-family model's segmentation, ...).
    ignored_outputs: tuple[str, ...] = ()
    # How the model wants its input (padding, placement, value range): the estimator reads it once.
    input_convention: InputConvention = DEFAULT_CONVENTION

    def decode(self, outputs: Sequence[np.ndarray], region: Region) -> list[Pose]: ...

    def decode_frame(self, outputs: Sequence[np.ndarray], region: Region) -> Decoded:
        """The poses and the crop region's anchor; the default anchor is the best pose."""
        return Decoded(self.decode(outputs, region))

    # A single-person decoder that can give the followed person's ``(17, 3)`` keypoints (source
    # pixels, checked finite) before the rest of the decode sets, as ``followed_keypoints(outputs,
    # region)``, and ``decoded_from(keypoints)`` for the rest: the exact crop cuts the next frame
    # between the two. None: the crop region waits for the whole decode.
    followed_keypoints: Callable[[Sequence[np.ndarray], Region], np.ndarray] | None = None
    decoded_from: Callable[[np.ndarray], Decoded] | None = None

    def input_size_for(self, width: int, height: int) -> tuple[int, int] | None:
        """The model input (width, height) for frames of this size, for models with a dynamic
        input (MoveNet MultiPose); None (the default): the model's input is fixed."""
        return None


@dataclass(frozen=True)
class OutputFormat:
    """A known output layout: a name, a test on the output specs, and how to build its decoder.

    ``build`` gets the model's own decoder parameters as its last argument (``options``, e.g. the
    ``PosenetDecoderOp`` options of :mod:`edgepose.inference.surgery`; empty for most models).
    ``layout`` (formats that tolerate extra outputs) gives the indices of the outputs it reads, so
    the others can be listed without building the decoder; None: the format reads every output.
    """

    name: str
    description: str
    matches: Callable[[Sequence[TensorSpec], TensorSpec], bool]
    build: Callable[[Sequence[TensorSpec], TensorSpec, DecoderConfig, Mapping[str, float]], Decoder]
    layout: Callable[[Sequence[TensorSpec]], Sequence[int] | None] | None = None

    def ignored(self, outputs: Sequence[TensorSpec]) -> tuple[str, ...]:
        """Names of the outputs this format's decoder would not read (it must match ``outputs``)."""
        used = self.layout(outputs) if self.layout is not None else None
        return () if used is None else tuple(o.name for i, o in enumerate(outputs) if i not in set(used))


def choose_decoder(
    formats: Sequence[OutputFormat],
    outputs: Sequence[TensorSpec],
    input_spec: TensorSpec,
    config: DecoderConfig,
    model_name: str = "model",
    options: Mapping[str, float] | None = None,
) -> Decoder:
    """The decoder for the first format that matches; an :class:`InputError` listing the known ones."""
    for fmt in formats:
        if fmt.matches(outputs, input_spec):
            try:
                decoder = fmt.build(outputs, input_spec, config, dict(options or {}))
            except InputError:
                if input_spec.dynamic:  # the placeholder shape is what the decoder could not use
                    raise open_input_error(fmt.name, input_spec, model_name) from None
                raise
            if input_spec.dynamic and decoder.input_size_for(640, 480) is None:
                raise open_input_error(fmt.name, input_spec, model_name)
            return decoder
    shapes = ", ".join(f"{o.name} {list(o.shape)} {o.dtype}" for o in outputs)
    known = "; ".join(f"{f.name} ({f.description})" for f in formats)
    raise InputError(f"{model_name}: unknown output format: {shapes}", f"known formats: {known}")


def open_input_error(format_name: str, input_spec: TensorSpec, model_name: str) -> InputError:
    """The refusal of a model whose input size is left open (a -1 in its shape signature) by a
    decoder that does not choose one per frame (only MoveNet MultiPose's does): the stored shape
    is a placeholder, often 1x1, and running at it would give noise."""
    return InputError(
        f"{model_name}: its input size is left open ({list(input_spec.signature)}) and the "
        f"{format_name} decoder does not choose one",
        "export the model with a fixed input size (such as [1, 192, 192, 3])",
    )


T = TypeVar("T", int, float)


def setting_or_model(configured: T | None, options: Mapping[str, float], key: str, default: T) -> T:
    """Precedence of a decoder parameter: the user's config value, else the model's own, else ``default``."""
    if configured is not None:
        return configured
    if key in options:
        return type(default)(options[key])
    return default


def dequantize_finite(spec: TensorSpec, array: np.ndarray, what: str) -> np.ndarray:
    """float32 values of one output; a float output holding NaN or inf is refused as a :class:`FrameError`.

    Integer outputs cannot hold either, and the engine refuses a quantization that would overflow
    (:func:`~edgepose.inference.engine.quantization_problem`), so they skip the check. A float
    output is checked even when the model states a quantization for it.
    """
    values = spec.dequantize(array)
    if array.dtype.kind == "f" and not np.isfinite(values).all():
        raise FrameError(f"the model's {what} output ({spec.name}) holds NaN or inf: frame skipped")
    return values


OUT_OF_RANGE = "the model's output decodes to a pose out of range (NaN or inf): frame skipped"


def finite_poses(poses: list[Pose]) -> list[Pose]:
    """``poses`` unchanged; a :class:`FrameError` if one holds NaN or inf (keypoints, score or box).

    Finite outputs can still overflow on the way to source pixels (a coordinate of 1e38 times the
    frame's width); such a pose cannot be tracked, smoothed or written as JSON, so the frame fails.
    """
    for pose in poses:
        if not (np.isfinite(pose.keypoints).all() and np.isfinite(pose.score) and np.isfinite(pose.box).all()):
            raise FrameError(OUT_OF_RANGE)
    return poses


def dequantize_scaled(spec: TensorSpec, array: np.ndarray, what: str, factor: float = 1.0) -> np.ndarray:
    """``dequantize_finite(spec, array, what)[0] * float32(factor)`` in one pass into one new C-order array.

    The same float32 operations in the same order (``((q - zero_point) * scale) * factor``), so the
    same bits, without the intermediate copies; the batch axis of a ``(1, ...)`` output is dropped.
    """
    values = array[0] if array.ndim and array.shape[0] == 1 else array
    if spec.quantized:
        with np.errstate(over="ignore"):  # a float output's overflow is caught just below
            out = np.subtract(values, np.float32(spec.zero_point), dtype=np.float32)
            out *= np.float32(spec.scale)
    else:
        out = np.array(values, np.float32)  # a copy: the kernels get an array the engine cannot overwrite
    if factor != 1.0:
        with np.errstate(over="ignore"):
            out *= np.float32(factor)
    # Integer codes within a quantization the engine accepted stay finite, unless scaled up.
    if (values.dtype.kind == "f" or factor > 1.0) and not np.isfinite(out).all():
        raise FrameError(f"the model's {what} output ({spec.name}) holds NaN or inf: frame skipped")
    return out


def decoder_kernels(config: DecoderConfig) -> Kernels:
    """The kernels ``decoder.kernel`` chooses, compiled (or loaded from the cache) now, not on the first frame."""
    kernels = load_kernels(config.kernel, config.numba_cache_dir)
    warmup(kernels)
    return kernels
