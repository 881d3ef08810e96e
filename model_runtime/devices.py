"""Choosing the torch device and thread count deliberately."""

from __future__ import annotations

import os

import torch


def best_device() -> str:
    """CUDA > MPS > CPU."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks the best available; an unavailable explicit choice is a clear error."""
    if device is None:
        return torch.device(best_device())
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available in this torch build")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError(f"device {device!r} requested but MPS is not available")
    return dev


def cpu_thread_budget() -> int:
    """Threads for CPU inference: the cores this process may use, at least 1.

    Respects the CPU affinity mask (containers) and SAMDESK_THREADS when set.
    """
    env = os.environ.get("SAMDESK_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
