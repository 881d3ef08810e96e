"""SAM 1 / MobileSAM pre- and post-processing, matching the official SamPredictor bit for bit.

Image: uint8 RGB -> PIL bilinear resize so the longest side is 1024 -> float, normalise with
ImageNet statistics in 0-255 units -> zero-pad bottom/right to 1024² (after normalising, so the
padding is 0, not the mean colour). Prompts: pixel coordinates scaled by new/old size in float64.
Masks: 256² logits -> bilinear 1024² -> crop to the resized size -> bilinear to the original size.
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
    """(H, W) after scaling so the longest side is ``long_side``, rounded half up like the official code."""
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


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


def upscale_logits(
    low_res: torch.Tensor, input_size: tuple[int, int], original_size: tuple[int, int], size: int = 1024
) -> torch.Tensor:
    """(B, K, 256, 256) logits -> (B, K, H, W) logits at the original size.

    Identical to upsampling to ``size``², cropping to ``input_size`` and resizing to
    ``original_size``, but the first upsampling only produces the rows and columns the crop keeps
    (plus one): bilinear output pixel i reads source pixels floor(i/4 − 3/8) and the next one, so
    output rows below ``input_size`` never touch the cut-off source rows, and the scale factor
    (rows / (4·rows)) is exactly the same 0.25. That saves up to 44 % of the first pass for
    non-square images.
    """
    factor = size // low_res.shape[-1]
    rows = min(low_res.shape[-2], -(-input_size[0] // factor) + 1)
    cols = min(low_res.shape[-1], -(-input_size[1] // factor) + 1)
    x = low_res[..., :rows, :cols]
    x = F.interpolate(x, (rows * factor, cols * factor), mode="bilinear", align_corners=False)
    x = x[..., : input_size[0], : input_size[1]]
    return F.interpolate(x, original_size, mode="bilinear", align_corners=False)
