"""Give the C heap's freed memory back to the operating system after XLA compiles.

Compiling a jitted function allocates a few hundred MB of short-lived memory (LLVM's
and XLA's own data structures). It is freed when compilation ends, but glibc's malloc
keeps freed pages of its heap mapped, so the process's resident memory stays at the
compile's high-water mark. A chunked computation that then fills a large host array
(the posterior predictive's replicates) adds that array on top of the retained heap.
Measured on 4,000 draws × n = 100,000 Poisson replicates: 0.19 GB of the 0.30 GB that
stayed resident after compiling the chunk was such freed memory.

``malloc_trim(0)`` returns it. It exists in glibc only; elsewhere (macOS, musl) this
module does nothing, and nothing else depends on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_freed_heap"]


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_heap() -> bool:
    """Return freed heap pages to the operating system (glibc ``malloc_trim(0)``).

    Call it after a compilation and before a large allocation is filled. It frees
    nothing that is in use, takes a few milliseconds, and is safe while JAX runs
    computations on other threads (malloc locks its arenas).

    Returns:
        bool: True if memory was released, False if none was or the C library has no
        ``malloc_trim``.

    Example:
        >>> from numpyro_glm.heap import release_freed_heap
        >>> isinstance(release_freed_heap(), bool)
        True
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
