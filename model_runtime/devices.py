"""Choosing the torch device and thread count deliberately.

Device names are torch's: "cpu", "cuda", "cuda:N", "mps"; "auto" (or no choice at all) means the
best available, CUDA first, then MPS, then the CPU. :func:`parse_device_choice` checks a name
without importing torch (command lines, settings); :func:`resolve_device` turns a choice into a
``torch.device`` and refuses one that this machine does not have.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

AUTO = "auto"
_DEVICE_NAME = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def parse_device_choice(text: str | None) -> str | None:
    """A device name as a user wrote it -> the name, or None for "auto" / empty (the best
    available). Anything else is a ``ValueError`` naming the accepted forms. Imports no torch."""
    if text is None:
        return None
    name = text.strip().lower()
    if name in ("", AUTO):
        return None
    if not _DEVICE_NAME.match(name):
        raise ValueError(f"unknown device {text!r}: use auto, cpu, cuda, cuda:N or mps")
    return name


def explicit_device(choice: str | None) -> str | None:
    """A device choice as loaders take it: None for "auto" (or nothing), else the name as given
    (a name that is no device is refused by the loader, with the reason)."""
    if choice is None or choice.strip().lower() in ("", AUTO):
        return None
    return choice


def best_device() -> str:
    """CUDA > MPS > CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` (or "auto") picks the best available; an unavailable explicit choice is a clear
    error."""
    import torch

    if isinstance(device, str):
        device = parse_device_choice(device)
    if device is None:
        return torch.device(best_device())
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available in this torch build")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)"
        )
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
