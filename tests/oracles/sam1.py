"""Test-only SAM 1 / MobileSAM oracles: random checkpoints in the official layout and the
official predictor to compare against.

The official random init hides bugs: zero/constant tensors (pos_embed, rel_pos, biases, norm
weights, attention biases) make whole code paths no-ops, and mask logits stay near 0 (every pixel
"maybe"). So every constant tensor becomes c + 0.1·N(0, 1) and the hypernetwork heads' last layer
is scaled until the low-res logits spread over about ±3 (REFERENCE-FACTS: oracle recipe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import tests.oracles  # noqa: F401  (torchvision shim before the official packages)

VARIANTS = ("vit_b", "vit_l", "vit_h", "vit_t")
# Target standard deviation of the low-res mask logits after calibration.
_LOGIT_STD = 1.5


def build_official(variant: str, checkpoint: str | Path | None = None) -> Any:
    """The official model (segment_anything for vit_b/l/h, mobile_sam for vit_t), in eval mode."""
    if variant == "vit_t":
        from mobile_sam import sam_model_registry
    else:
        from segment_anything import sam_model_registry
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    model = sam_model_registry[variant](checkpoint=None)
    if checkpoint is not None:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    return model.eval()


def official_predictor(checkpoint: str | Path, variant: str) -> Any:
    """An official ``SamPredictor`` over the checkpoint file."""
    model = build_official(variant, checkpoint)
    if variant == "vit_t":
        from mobile_sam import SamPredictor
    else:
        from segment_anything import SamPredictor
    return SamPredictor(model)


@torch.no_grad()
def _perturb(model: torch.nn.Module, generator: torch.Generator) -> None:
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point() or tensor.numel() == 0:
            continue
        if bool((tensor == tensor.reshape(-1)[0]).all()):
            noise = 0.1 * torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_((tensor + noise).abs() + 0.05)
            else:
                tensor.add_(noise)


@torch.no_grad()
def _calibrate_logits(model: Any, generator: torch.Generator) -> None:
    """Scale the hypernetwork MLPs' last layer so the logits have std ≈ _LOGIT_STD."""
    features = torch.randn((1, 256, 64, 64), generator=generator)
    coords = torch.tensor([[[512.0, 400.0]]])
    labels = torch.tensor([[1]], dtype=torch.int)
    sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
    logits, _ = model.mask_decoder.predict_masks(features, model.prompt_encoder.get_dense_pe(), sparse, dense)
    scale = _LOGIT_STD / float(logits.std())
    for mlp in model.mask_decoder.output_hypernetworks_mlps:
        mlp.layers[-1].weight.mul_(scale)
        mlp.layers[-1].bias.mul_(scale)


def make_state_dict(variant: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded random state dict in the official layout of ``variant`` (vit_b/l/h, vit_t)."""
    torch.manual_seed(seed)  # the official constructors draw from the global generator
    model = build_official(variant)
    generator = torch.Generator().manual_seed(seed + 1)
    _perturb(model, generator)
    _calibrate_logits(model, generator)
    return model.state_dict()


def make_sam1_checkpoint(directory: str | Path, variant: str, seed: int = 0, name: str | None = None) -> Path:
    """Save a random checkpoint like the official files (a plain state dict) and return its path."""
    path = Path(directory) / (name or f"sam1_{variant}_seed{seed}.pth")
    state_dict = make_state_dict(variant, seed)
    torch.save(state_dict, path)
    del state_dict
    return path
