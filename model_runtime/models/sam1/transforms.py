"""SAM 1 / MobileSAM pre- and post-processing, matching the official SamPredictor bit for bit.

Image: uint8 RGB -> PIL bilinear resize so the longest side is 1024 -> float, normalise with
ImageNet statistics in 0-255 units -> zero-pad bottom/right to 1024² (after normalising, so the
padding is 0, not the mean colour). Prompts: pixel coordinates scaled by new/old size in float64.
Masks (official): 256² logits -> bilinear 1024² -> crop to the resized size -> bilinear to the
original size; ours compute the same signs via ``common.mask_upsampling.sam1_plan``.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
LOW_RES = 256


def resized_shape(height: int, width: int, long_side: int = 1024) -> tuple[int, int]:
    """(H, W) after scaling so the longest side is ``long_side``, rounded half up like the official
    code, but never below 1 pixel: the official rounding makes the short side of a 1×5000 image
    0 pixels, which no resize can produce (PIL: "height and width must be > 0")."""
    scale = long_side * 1.0 / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def resize_image(image: np.ndarray, long_side: int = 1024) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (h, w, 3) with PIL's antialiased bilinear filter."""
    h, w = resized_shape(image.shape[0], image.shape[1], long_side)
    # np.array (not asarray): a writable copy, so torch.from_numpy needs no extra copy later.
    return np.array(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))


def image_to_input(resized: np.ndarray, size: int = 1024, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (h, w, 3) -> float32 (1, 3, size, size): normalised, zero-padded bottom/right."""
    x = torch.from_numpy(np.ascontiguousarray(resized)).to(device).permute(2, 0, 1)[None].float()
    mean = torch.tensor(PIXEL_MEAN, device=device).view(-1, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(-1, 1, 1)
    x = (x - mean) / std
    return F.pad(x, (0, size - x.shape[-1], 0, size - x.shape[-2]))


def scale_coords(
    coords: np.ndarray, original_size: tuple[int, int], input_size: tuple[int, int]
) -> np.ndarray:
    """(..., 2) x, y in the original image -> float32 (..., 2) in the resized image.

    Computed in float64 and then rounded to float32, as the official predictor does.
    """
    old_h, old_w = original_size
    new_h, new_w = input_size
    out = np.array(coords, dtype=np.float64)
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out.astype(np.float32)
