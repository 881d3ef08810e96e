"""Fewer intra-op threads for a block of small operations.

PyTorch runs an element-wise operation over more than ~32 k elements, and MKL a small matrix
product, on every intra-op thread of the calling thread, and those threads meet at a barrier
after each operation. For tensors of a few hundred tokens the work per operation is tens of
microseconds, so the barrier is the cost: when another process (or the app's own GUI or
background thread) holds one of the cores, each such operation waits out that process's time
slice, and the waiting thread spins on the CPU meanwhile. SAM 3's decoder runs ~800 such
operations per phrase: with them on one thread its CPU time per phrase went from 1.59 s to
1.38 s (2 threads, load average ~13; ``bench/sam3_detector.py``'s decoder stage).

:func:`intra_op_threads` lowers the calling thread's count for a block and restores it. The
OpenMP and MKL counts it changes are the calling thread's own, once that thread has run a
parallel operation (``runtime.threads.configure_current_thread`` makes sure of that for the
runtime's threads); PyTorch also stores the value process-wide, as the count a thread that has
never run one starts with, and the restore puts the calling thread's count back there. Results
do not depend on the count (each output element is computed by one thread either way).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """Run the block with at most ``count`` intra-op threads on the calling thread."""
    before = torch.get_num_threads()
    if before <= count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
