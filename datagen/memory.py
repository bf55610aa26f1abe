"""Keep freed memory for the next block instead of giving it back to the operating system.

A block of 131,072 rows makes many temporary arrays of a few MB each. With glibc's defaults, allocations that
large are mapped afresh and unmapped when freed (its threshold only adapts to the first sizes it sees), and
the top of the heap is trimmed: every block then pays the kernel again to fault in and zero the same amount of
memory. The settings below keep that memory for the next block instead (the page faults they saved, and what they
cost: benchmarks/HISTORY.md, 2026-11-28).
"""

from __future__ import annotations

import ctypes
import functools

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MMAP_THRESHOLD = 32 << 20   # glibc's largest: arrays below 32 MB come from the heap and are reused
_TRIM_THRESHOLD = 1 << 30    # give memory back only when a gigabyte lies free at the top of the heap
_TOP_PAD = 64 << 20          # grow the heap by 64 MB at a time


@functools.cache
def reuse_freed_memory() -> bool:
    """Tunes glibc's malloc for this process (once); False where the C library is not glibc (nothing done)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on (glibc has mallopt)
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD)))
