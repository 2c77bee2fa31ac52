"""Compiler flags shared by every Numba kernel, in one place.

``fastmath`` leaves out ``nnan`` and ``ninf``: with them LLVM may assume no NaN or inf exists and
compile away the very comparisons that keep a NaN in a model output from becoming an array index.
The flags kept here only allow reassociation, FMA contraction, reciprocal and approximate
functions, and ignoring the sign of zero.
"""

from __future__ import annotations

FASTMATH: frozenset[str] = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

# nopython (no object-mode fallback), a cache on disk, and the GIL released while a kernel runs.
JIT_OPTIONS: dict[str, object] = {"nopython": True, "cache": True, "nogil": True, "fastmath": set(FASTMATH)}
