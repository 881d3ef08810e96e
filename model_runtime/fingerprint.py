"""A short, stable id of a model's weights, part of its ``ModelInfo.model_id``.

Two checkpoints of one architecture (the official ViT-B and a fine-tuned one) must never share
an embedding, a cache entry or the provenance written into a project, so the id names the
weights, not only the size. Hashing every byte costs seconds for the large files; this hashes
each tensor's name, dtype, shape and a fixed, evenly spaced sample of its values (every value of
small tensors). Training, fine-tuning, a merged LoRA or re-quantisation changes (nearly) every
value of each tensor it touches, so it changes the sample; an edit of a few values between the
sample points of one large tensor would not, and is not a case this guards against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

SAMPLES_PER_TENSOR = 1024
DIGEST_BYTES = 16


def weights_fingerprint(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Hex digest of the weights in ``state_dict`` (any device; tensors are only read)."""
    digest = hashlib.blake2b(digest_size=DIGEST_BYTES)
    for name in sorted(state_dict):
        tensor = state_dict[name].detach()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        flat = tensor.reshape(-1)
        count = flat.numel()
        if count > SAMPLES_PER_TENSOR:
            # Integer arithmetic: the same positions on every machine, first and last included.
            positions = torch.arange(SAMPLES_PER_TENSOR, dtype=torch.int64) * (count - 1)
            flat = flat[(positions // (SAMPLES_PER_TENSOR - 1)).to(flat.device)]
        digest.update(flat.cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
