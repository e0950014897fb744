"""glibc's allocator, set for work on whole frames.

By default glibc hands a freed block above a moving threshold (128 KiB at first, raised by
each larger block freed) back to the system and maps fresh pages for the next one, so the
full-size arrays of each frame pay page faults on first touch. How fast the edge filter ran
then depended on what the process had freed before: on 1280×720 photos 3 ms after a large
free, 6–9 ms without one. :func:`keep_freed_memory` keeps blocks of up to 32 MiB for reuse
whatever came before; :func:`malloc_trim` hands the free pages back when a long-running
process wants to. Both do nothing where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 << 20  # blocks up to this size come from the heap (glibc's largest)
TRIM_THRESHOLD = 256 << 20  # free memory kept at the top of the heap before it goes back


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both exist in glibc only)
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc keep freed blocks of up to 32 MiB for reuse (once per process); True when
    it took the setting."""
    libc = _glibc()
    if libc is None:
        return False
    mmap = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(mmap) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def malloc_trim() -> None:
    """Hand the free pages of the heap back to the system (glibc's ``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
