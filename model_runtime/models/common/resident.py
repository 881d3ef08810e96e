"""Hand back the memory pages of a module's memory-mapped weights after it has run.

A checkpoint loaded with ``mmap`` (``checkpoints.load_checkpoint``, ``assign=True``) keeps its
tensors in the file's pages: none is read from the disk until used, and once used its pages
count in the process's resident memory until the kernel needs them back. For a part that runs
rarely, or only at one stage of the work, holding them all the time is waste: SAM 3's text
encoder (~1.2 GB touched) runs once per new phrase, its ViT (1.8 GB) once per image, and
together with everything else they put the process above 5 GB.

:func:`release_pages` tells the kernel (``madvise(MADV_DONTNEED)``) that the process no longer
needs the pages of a module's parameters and buffers that lie in a file mapping. The kernel then
unmaps them from this process; the file's pages stay in the page cache, so the next use maps
them again with minor page faults (no disk read while the system has the memory for the cache).
Only whole pages inside one tensor are released, and only for tensors inside a file-backed
mapping: copies made at load (another dtype, another device) are ordinary memory and are kept.

This is only correct for weights nobody writes: in a private file mapping a written page
becomes the process's own copy, and releasing it would bring back the file's value. Inference
never writes weights (the released SAM 3 file's mapping, after load, two encodes, five phrases
and their masks: 0 kB anonymous in ``/proc/self/smaps``), and a mapping that holds any written
page (``Anonymous`` above 0 in ``/proc/self/smaps``) is never released, so a weight changed in
place keeps its value. Elsewhere than Linux this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from bisect import bisect_right

import torch
from torch import nn

log = logging.getLogger(__name__)

MADV_DONTNEED = 4
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def file_mappings() -> list[tuple[int, int, str]]:
    """(start, end, path) of this process's file-backed private mappings none of whose pages was
    written (no copy-on-write ``Anonymous`` pages), sorted by start."""
    ranges = []
    current: list | None = None  # [start, end, path, written]
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
            for line in smaps:
                fields = line.split(maxsplit=5)
                if fields and not fields[0].endswith(":"):  # a mapping's first line
                    current = None
                    if len(fields) < 6 or not fields[5].startswith("/") or fields[1][3] != "p":
                        continue
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    current = [start, end, fields[5].rstrip("\n"), False]
                    ranges.append(current)
                elif current is not None and fields[0] == "Anonymous:" and int(fields[1]) > 0:
                    current[3] = True
    except OSError:
        return []
    return sorted((start, end, path) for start, end, path, written in ranges if not written)


def mapped_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The module's CPU parameters and buffers whose bytes lie in a file-backed private mapping."""
    ranges = file_mappings()
    starts = [r[0] for r in ranges]
    found = []
    seen: set[int] = set()
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.device.type != "cpu" or not tensor.numel():
            continue
        begin = tensor.data_ptr()
        if begin in seen:
            continue
        end = begin + tensor.numel() * tensor.element_size()
        index = bisect_right(starts, begin) - 1
        if index >= 0 and ranges[index][0] <= begin and end <= ranges[index][1]:
            seen.add(begin)
            found.append(tensor)
    return found


def _madvise() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    function = libc.madvise
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise()


def release_pages(module: nn.Module) -> int:
    """Release the resident pages of ``module``'s file-mapped weights; -> bytes advised."""
    if _MADVISE is None:
        return 0
    advised = 0
    for tensor in mapped_tensors(module):
        begin = tensor.data_ptr()
        end = begin + tensor.numel() * tensor.element_size()
        first = -(-begin // PAGE) * PAGE
        last = end // PAGE * PAGE
        if last <= first:
            continue
        if _MADVISE(first, last - first, MADV_DONTNEED) != 0:
            log.debug("madvise failed: errno %s", ctypes.get_errno())
            return advised
        advised += last - first
    return advised
