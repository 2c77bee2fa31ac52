"""Two input buffers used in turn, each made when it is first needed.

The overlapped schedule cuts frame n+1 while frame n's input may still be read by the invoke, so
it needs two buffers in turn (:meth:`TurnBuffers.next`). The serial schedule is done with a
buffer once its invoke returns (the engine copies the input into the interpreter), so it asks
for the buffer the next cut would take (:meth:`TurnBuffers.current`) and the second is never
made: 0.3-1.2 MB of float input a model on a 512 MB board does not carry for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TurnBuffers(Generic[T]):
    """Two buffers from ``make``, made lazily. :meth:`current` never hands back the buffer that the
    last :meth:`next` returned, so a serial frame between two overlapped ones never writes over
    the frame in flight."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: list[T | None] = [None, None]
        self._turn = 0

    def current(self) -> T:
        """The buffer the next :meth:`next` will return (for a frame that is invoked before another is cut)."""
        buffer = self._made[self._turn]
        if buffer is None:
            buffer = self._made[self._turn] = self._make()
        return buffer

    def next(self) -> T:
        """A buffer for a frame that may still be read while the next one is cut; the other one next time."""
        buffer = self.current()
        self._turn ^= 1
        return buffer

    @property
    def made(self) -> int:
        """How many buffers exist so far (1 on the serial schedule, 2 once frames overlap)."""
        return sum(b is not None for b in self._made)
