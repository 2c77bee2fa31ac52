# cython: language_level=3
"""Built in the emulated root against apt's NumPy: ``cimport numpy`` makes the module check NumPy's C
ABI at import (dtype size, C-API table), which is what breaks the real simplejpeg under NumPy 2."""

cimport numpy as cnp

cnp.import_array()


def encode_jpeg(cnp.ndarray[cnp.uint8_t, ndim=3] image, int quality=85, str colorspace="RGB"):
    """Not a JPEG encoder: returns the SOI/EOI markers around the pixel sum, read through the C buffer."""
    cdef Py_ssize_t y, x, c
    cdef unsigned long long total = 0
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            for c in range(image.shape[2]):
                total += image[y, x, c]
    return b"\xff\xd8" + str(total).encode() + b"\xff\xd9"
