"""Test-only SAM 2 / SAM 2.1 oracle: random checkpoints in the official layout and the official
``SAM2ImagePredictor`` built from them.

No pretrained weights exist on CI machines, so parity is checked on random weights that are
perturbed to be *informative*: the official init leaves constant tensors (zeros, ones) that hide
indexing and broadcasting bugs, and mask logits so close to 0 that every pixel is "maybe".
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch

import tests.oracles  # noqa: F401  (torchvision shim before the official package imports it)

# Our variant name -> official package-relative config, per family.
CONFIGS: dict[str, dict[str, str]] = {
    "sam2.1": {
        "hiera_t": "configs/sam2.1/sam2.1_hiera_t.yaml",
        "hiera_s": "configs/sam2.1/sam2.1_hiera_s.yaml",
        "hiera_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
        "hiera_l": "configs/sam2.1/sam2.1_hiera_l.yaml",
    },
    "sam2": {
        "hiera_t": "configs/sam2/sam2_hiera_t.yaml",
        "hiera_s": "configs/sam2/sam2_hiera_s.yaml",
        "hiera_b+": "configs/sam2/sam2_hiera_b+.yaml",
        "hiera_l": "configs/sam2/sam2_hiera_l.yaml",
    },
}

# Official file names, for readable test ids and cache file names.
FILE_NAMES: dict[str, dict[str, str]] = {
    "sam2.1": {
        "hiera_t": "sam2.1_hiera_tiny.pt",
        "hiera_s": "sam2.1_hiera_small.pt",
        "hiera_b+": "sam2.1_hiera_base_plus.pt",
        "hiera_l": "sam2.1_hiera_large.pt",
    },
    "sam2": {
        "hiera_t": "sam2_hiera_tiny.pt",
        "hiera_s": "sam2_hiera_small.pt",
        "hiera_b+": "sam2_hiera_base_plus.pt",
        "hiera_l": "sam2_hiera_large.pt",
    },
}


def build_official(family: str, variant: str, ckpt_path: str | Path | None = None) -> Any:
    """The official SAM2Base (eval, CPU) with the image predictor's post-processing options."""
    from sam2.build_sam import build_sam2

    return build_sam2(CONFIGS[family][variant], ckpt_path=str(ckpt_path) if ckpt_path else None, device="cpu")


@torch.no_grad()
def perturb_state_dict(state_dict: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Make a freshly initialised state dict informative (see module docstring).

    - every floating tensor whose values are all equal (zeros, ones, constant biases) becomes
      c + 0.1·N(0, 1);
    - the last layer of each hypernetwork MLP is scaled so mask logits reach about ±3;
    - the object-score head is biased +3.5 so "object present" holds (as with trained weights).
    """
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        value = value.detach().clone()
        if value.is_floating_point() and value.numel() > 0 and bool((value == value.flatten()[0]).all()):
            value = value + 0.1 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        out[key] = value
    for key in out:
        if key.startswith("sam_mask_decoder.output_hypernetworks_mlps.") and ".layers.2." in key:
            out[key] = out[key] * 8.0
    bias_key = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    if bias_key in out:
        out[bias_key] = out[bias_key] + 3.5
    return out


def make_checkpoint(family: str, variant: str, path: str | Path, seed: int = 0) -> Path:
    """Write a random checkpoint in the official layout (``{"model": state_dict}``) to ``path``."""
    path = Path(path)
    torch.manual_seed(seed)
    model = build_official(family, variant)
    state_dict = perturb_state_dict(model.state_dict(), seed)
    del model
    gc.collect()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state_dict}, path)
    return path


def make_predictor(family: str, variant: str, ckpt_path: str | Path) -> Any:
    """The official ``SAM2ImagePredictor`` over the checkpoint at ``ckpt_path``."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    return SAM2ImagePredictor(build_official(family, variant, ckpt_path))
