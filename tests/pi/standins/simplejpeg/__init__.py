"""Stand-in for apt's ``python3-simplejpeg``: a compiled module bound to the NumPy it was built with.

In the emulated Raspberry Pi OS root, ``_jpeg`` is built with Cython against apt's NumPy headers,
exactly as apt builds the real simplejpeg, so importing it under another NumPy ABI fails the way the
real one does. On other machines the tests put a failing or pure-Python ``_jpeg`` beside it.
"""

from simplejpeg._jpeg import encode_jpeg

__all__ = ["encode_jpeg"]
