"""Real models with random weights, small enough for GUI and runtime tests (test-only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from model_runtime.models.sam2.config import make_config
from model_runtime.models.sam2.model import Sam2ImageModel
from model_runtime.models.sam2.network import Sam2Network


def small_sam2_model(seed: int = 0, present: bool = True, encoder_dtype: str | None = None) -> Sam2ImageModel:
    """SAM 2.1 tiny with random weights at a 256² input (the weights do not depend on the input
    size): the whole image and video path, at a fraction of a second per frame on a CPU.

    ``present``: the object-presence head's last bias is set high, so the video tracker keeps
    seeing the object (with purely random weights it usually declares it gone at once, and
    every tracked mask comes out empty). ``encoder_dtype``: see ``Sam2ImageModel``."""
    torch.manual_seed(seed)
    config = dataclasses.replace(make_config("sam2.1", "hiera_t"), image_size=256)
    network = Sam2Network(config)
    if present:
        with torch.no_grad():
            network.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(20.0)
    return Sam2ImageModel(network, torch.device("cpu"), encoder_dtype=encoder_dtype)


def save_mobile_sam_checkpoint(path: str | Path, seed: int = 0) -> Path:
    """A MobileSAM file in the official layout (a plain state dict) with our own network's
    random weights: it loads strictly like the real file, without the official package."""
    from model_runtime.models.sam1.model import Sam
    from model_runtime.models.sam1.tiny_vit import TINY_VIT_5M, TinyViT

    torch.manual_seed(seed)
    path = Path(path)
    torch.save(Sam(TinyViT(TINY_VIT_5M)).state_dict(), path)
    return path
