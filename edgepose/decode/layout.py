"""Finding the tensors a decoder needs among a model's outputs, by shape and name.

Models of the PoseNet family carry more outputs than their pose decoder reads: PersonLab's long-range
offsets, BodyPix's segmentation, part heatmaps and part offsets. A decoder's layout names the
*roles* it needs (heatmaps, short offsets, ...), each a channel count on the heatmaps' grid; every
other output is ignored and listed (``models inspect``, the decoder's ``ignored_outputs``).

Shape decides alone when one output fits a role. When several do (long-range offsets have the
34 channels of short offsets), the name decides: a role's ``marks`` select it, ``others`` rule a
tensor out (``float_long_offsets`` is not ``float_short_offsets``). When names cannot tell two
candidates apart the layout does not match: a model is refused rather than decoded from a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgepose.inference.engine import TensorSpec

# Name fragments of the PoseNet family's outputs no pose decoder reads (PersonLab, BodyPix).
EXTRA_MARKS = ("long", "part", "seg", "mask")


@dataclass(frozen=True)
class Role:
    """One tensor a decoder reads: its channel count, and name fragments that mark it or rule it out."""

    what: str
    channels: int
    marks: tuple[str, ...] = ()
    others: tuple[str, ...] = EXTRA_MARKS


HEATMAPS = Role("heatmaps", 17, ("heatmap",))
SHORT_OFFSETS = Role("short offsets", 34, ("short", "offset"), (*EXTRA_MARKS, "mid", "displacement"))
MID_OFFSETS = Role("mid offsets", 64, ("mid", "displacement"))
DISPLACEMENTS = Role("displacements", 32, ("displacement", "fwd", "bwd", "forward", "backward"))


def grid_of(spec: TensorSpec) -> tuple[int, int] | None:
    """(H, W) of a ``[1, H, W, C]`` output, None for any other shape."""
    s = spec.shape
    return (s[1], s[2]) if len(s) == 4 and s[0] == 1 else None


def candidates(outputs: Sequence[TensorSpec], role: Role, grid: tuple[int, int] | None = None) -> list[int]:
    """Indices of the outputs of ``role``'s shape (on ``grid`` when given) its name does not rule out."""
    found = []
    for i, spec in enumerate(outputs):
        g = grid_of(spec)
        if g is None or spec.shape[3] != role.channels or (grid is not None and g != grid):
            continue
        if not any(word in spec.name.lower() for word in role.others):
            found.append(i)
    return found


def pick(outputs: Sequence[TensorSpec], indices: Sequence[int], role: Role) -> int | None:
    """The one candidate: alone by shape, else the one whose name marks it; None when still ambiguous."""
    if len(indices) == 1:
        return indices[0]
    marked = [i for i in indices if any(word in outputs[i].name.lower() for word in role.marks)]
    return marked[0] if len(marked) == 1 else None


def find(outputs: Sequence[TensorSpec], roles: Sequence[Role]) -> tuple[int, ...] | None:
    """Output indices for ``roles`` (the first is the heatmaps, whose grid the others share), or None."""
    first = pick(outputs, candidates(outputs, roles[0]), roles[0])
    if first is None:
        return None
    grid = grid_of(outputs[first])
    found = [first]
    for role in roles[1:]:
        index = pick(outputs, [i for i in candidates(outputs, role, grid) if i not in found], role)
        if index is None:
            return None
        found.append(index)
    return tuple(found)


def ignored(outputs: Sequence[TensorSpec], used: Sequence[int]) -> tuple[str, ...]:
    """Names of the outputs a decoder does not read, in model order."""
    return tuple(spec.name for i, spec in enumerate(outputs) if i not in set(used))
