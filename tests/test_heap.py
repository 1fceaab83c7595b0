"""numpyro_glm.heap: freed C-heap memory is given back to the operating system."""

import ctypes
import ctypes.util

import pytest

from numpyro_glm import heap

PAGE = 4096


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.skipif(heap._malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_freed_small_blocks_stay_resident_until_released():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    size, count = 16 * 1024, 8192  # 128 MB in blocks below malloc's mmap threshold
    blocks = [libc.malloc(size) for _ in range(count)]
    for block in blocks:
        libc.memset(block, 1, size)  # touch: make them resident
    guard = libc.malloc(size)  # keeps the heap's top in use, so free cannot shrink it
    for block in blocks:
        libc.free(block)
    before = resident_bytes()
    assert heap.release_freed_heap() is True
    released = before - resident_bytes()
    libc.free(guard)
    # The oracle is the kernel's count of resident pages: most of the 128 MB comes back.
    assert released > 0.75 * size * count, released


def test_release_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.release_freed_heap() is False
