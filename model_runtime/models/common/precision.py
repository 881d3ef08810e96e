"""What a model computes in, as the official code does on a GPU (issue 22).

"float32" everywhere by default; "bfloat16" means the model runs its heavy parts under
``torch.autocast(device, bfloat16)`` (matrix products and convolutions in bf16, reductions and
norms in float32), as the official SAM 2 and SAM 3 demos do on CUDA. The choice is the model's
(``ModelInfo.compute_dtype``, part of its id, so caches never mix the two); the runtime adds none.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
COMPUTE_DTYPES = (FLOAT32, BFLOAT16)


def default_compute_dtype(device: torch.device) -> str:
    """bfloat16 on a CUDA GPU that supports it (tensor cores, half the activation memory),
    float32 elsewhere (on a CPU or MPS bf16 brings no speed and costs accuracy)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return BFLOAT16
    return FLOAT32


def check_compute_dtype(compute_dtype: str, model: str) -> str:
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"{model} computes in float32 or bfloat16, not {compute_dtype!r}")
    return compute_dtype


def autocast(device: torch.device, compute_dtype: str) -> AbstractContextManager[object]:
    """The context a model's heavy parts run under: bf16 autocast on ``device`` for "bfloat16",
    nothing for "float32"."""
    if compute_dtype == BFLOAT16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
