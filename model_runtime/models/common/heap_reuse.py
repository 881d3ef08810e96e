"""Reuse freed memory across decoder batches instead of mapping fresh pages each time (glibc).

A batch of 32 clicks through a mask decoder allocates tensors of 32-256 MB (image tokens per
click, the upscaling head's 256² feature maps). glibc serves every allocation above its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it on free, so every batch faults in
new pages that the kernel zeroes: 1.44 M minor faults and 2.7 s of system time of 9.7 s CPU for
128 MobileSAM clicks in groups of 32 (2 threads), against 0.26 M faults and 7.1 s CPU with the
switch (in-run A/B, 2026-12-05, load 7-10; see the commit message).

While :func:`reusing_freed_memory` is entered, large allocations come from the heap and freed
memory stays there (no mmap, no trimming), so later batches reuse the same pages; on the last
exit the settings go back and the free memory is returned to the system (``malloc_trim``).

The allocator is process-wide, so is this switch: entries from several threads nest (a
counter under a lock); while one is open, every thread's large allocations come from the heap,
which costs them nothing (a thread's own arena that cannot hold a request falls back
to the main heap). A no-op where the C library is not glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# glibc's defaults for the two settings we change (mmap allowed for up to 65,536 chunks; the
# heap top is trimmed above 128 KiB, a threshold glibc raises as large chunks are freed; after
# any mallopt it stays fixed, so the value restored is a generous fixed one).
_DEFAULT_MMAP_MAX = 65536
_TRIM_THRESHOLD_AFTER = 64 << 20
_NEVER_TRIM = (1 << 31) - 1  # mallopt takes an int


class _Switch:
    """The process-wide switch: how many callers are inside, and the C library."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.libc: ctypes.CDLL | None = None
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            name = ctypes.util.find_library("c")
            if name:
                libc = ctypes.CDLL(name)
                if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                    self.libc = libc

    def enter(self) -> None:
        with self.lock:
            self.depth += 1
            if self.depth == 1 and self.libc is not None:
                self.libc.mallopt(_M_MMAP_MAX, 0)
                self.libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM)

    def exit(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.libc is not None:
                self.libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                self.libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_AFTER)
                self.libc.malloc_trim(0)


_SWITCH = _Switch()


@contextmanager
def reusing_freed_memory() -> Iterator[None]:
    """Inside: large allocations reuse freed heap memory (see the module docstring)."""
    _SWITCH.enter()
    try:
        yield
    finally:
        _SWITCH.exit()


def is_reusing() -> bool:
    """Whether some caller is inside :func:`reusing_freed_memory` now (tests)."""
    with _SWITCH.lock:
        return _SWITCH.depth > 0
