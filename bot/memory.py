"""The C allocator (glibc's malloc) set for a long-running bot: memory freed goes back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks from 128 KiB (glibc's starting value) get their own mapping, returned when freed. Left alone,
# glibc raises this each time such a block is freed (up to 32 MB), after which the index and the loaded
# rows go among small objects on the heap, and the pages they leave free stay with the process.
MMAP_THRESHOLD = 128 * 1024
# The heap is trimmed once this much is free at its top. At 128 KiB, a worker thread's heap would be
# shrunk and grown again on every step of calibration (its arrays are 80 KB each): 1.7x slower.
TRIM_THRESHOLD = 1024 * 1024


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # musl, macOS and the BSDs have their own allocators, without these settings.
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def tune_malloc() -> bool:
    """Keep blocks of 128 KiB and more out of the heap and trim it as it frees; False where the C library isn't glibc."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_free_memory() -> None:
    """Give the system back the heap's free pages (after start-up's loading, which frees much of what it built)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
