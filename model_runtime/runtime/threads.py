"""How many CPU threads each runtime thread may use, and how it yields to the interactive one.

The runtime runs model work on two threads (docs/adr/0003-runtime-threading.md): the
*interactive* thread answers clicks, the *background* thread encodes images and runs long jobs.
PyTorch's intra-op thread count (OpenMP) is per calling thread, so each sets its own on start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadPlan:
    """``interactive`` / ``background``: intra-op threads of each runtime thread;
    ``background_alone``: the background thread's while the interactive one has nothing to do
    (when it runs under ``SCHED_IDLE``: see :func:`make_current_thread_idle`);
    ``gui_reserved``: cores left for the GUI thread (1 when there are at least 3)."""

    interactive: int
    background: int
    gui_reserved: int
    background_alone: int = 0  # 0: as ``background``


def plan_threads(budget: int | None = None) -> ThreadPlan:
    """Split ``budget`` cores (default: :func:`~model_runtime.devices.cpu_thread_budget`).

    A click is short and latency-bound, so it may use every core not reserved for the GUI. The
    background encode uses one core fewer, so that when both run there is a core whose only
    runnable model thread is the interactive one; with 1–2 cores it gets a single thread and a
    lower OS priority (see :func:`lower_current_thread_priority`) does the rest.

    ``background_alone`` (the background thread's count while no click runs, under
    ``SCHED_IDLE``) is planned as ``background``: on this loaded 2-core machine a tracking run
    with 2 threads was slower than with 1 (bench/README.md, "Tracking in the GUI"); set
    ``RuntimeConfig.background_threads_alone`` to give it every core on a quiet machine.
    """
    if budget is None:
        from model_runtime.devices import cpu_thread_budget  # imports torch

        budget = cpu_thread_budget()
    budget = max(1, budget)
    reserved = 1 if budget >= 3 else 0
    usable = budget - reserved
    return ThreadPlan(
        interactive=usable, background=max(1, usable - 1), gui_reserved=reserved,
        background_alone=max(1, usable - 1),
    )


def configure_current_thread(num_threads: int) -> None:
    """Set the calling thread's intra-op thread count (must run on that thread).

    PyTorch initialises a thread's OpenMP count lazily, at its first parallel op, from the
    process-wide value the *last* ``set_num_threads`` call on any thread stored. Without forcing
    that initialisation first, the background thread's later ``set_num_threads(1)`` silently
    became the interactive thread's count too (measured: clicks ran on 1 thread, ~1.5× slower).
    ``get_num_threads`` runs the lazy initialisation; the ``set`` after it then sticks.
    """
    import torch

    torch.get_num_threads()
    torch.set_num_threads(max(1, num_threads))


def lower_current_thread_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by ``nice`` (Linux: niceness is per thread).

    The OS scheduler then hands the cores to the GUI and interactive threads whenever they are
    runnable, and to the background encode otherwise: it yields without being split into chunks.
    Returns False where not supported (the background thread then only has fewer threads).
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return False
    tid = threading.get_native_id()
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
        return True
    log.debug("could not lower the priority of thread %s", tid)
    return False


def make_current_thread_idle() -> bool:
    """Put the calling thread under Linux's ``SCHED_IDLE`` policy: the kernel then runs it only
    on a core that no other runnable thread wants, and preempts it as soon as one does.

    A raised nice value alone is not enough for the background encode: its thread still gets a
    full time slice whenever it is picked, and a click's two OpenMP threads meet at a barrier
    after every operator, so one of them waiting out that slice stalls the whole predict.
    Measured with ``bench/click_latency.py`` (SAM 2.1 tiny, 2 cores, clicks while an encode
    runs): p95 140-170 ms at nice 10 (141 ms at nice 19), 49-65 ms under ``SCHED_IDLE``.
    The price: other processes on the machine come first too, so a busy machine slows encodes.
    An unprivileged thread cannot leave ``SCHED_IDLE`` again, so this is for the thread's life.
    Returns False where not supported.
    """
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(threading.get_native_id(), policy, os.sched_param(0))
    except OSError as exc:
        log.debug("could not put thread %s under SCHED_IDLE: %s", threading.get_native_id(), exc)
        return False
    return True
