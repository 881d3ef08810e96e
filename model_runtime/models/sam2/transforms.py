"""SAM 2 image pre- and post-processing, bit for bit like the official image predictor.

The official predictor squashes the image to a square (aspect ratio is *not* kept), so prompts are
scaled per axis: x by ``size / W`` and y by ``size / H`` — via the normalised coordinates
``x / W * size``, in that order, because the rounding must match.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess_image(image: np.ndarray, size: int = 1024) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (1, 3, size, size), normalised.

    Same operations as torchvision's ``ToTensor`` -> ``Resize((size, size))`` (antialiased
    bilinear on the float tensor) -> ``Normalize``: ÷255 first, then resize, then
    ``(x - mean) / std`` with float32 mean and std. One channel at a time (the resize treats
    channels independently, so the result is the same): a float32 copy of the whole image would
    cost 12 bytes per pixel, 2 GB for a 169-megapixel image, where one channel costs 4.
    """
    out = torch.empty((1, 3, size, size), dtype=torch.float32)
    for channel in range(3):
        plane = torch.from_numpy(np.ascontiguousarray(image[:, :, channel])).to(torch.float32).div_(255)
        out[0, channel] = F.interpolate(
            plane[None, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0, 0]
        del plane
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return out.sub_(mean).div_(std)


def transform_points(points: torch.Tensor, original_size: tuple[int, int], size: int = 1024) -> torch.Tensor:
    """Pixel (x, y) in the original image (..., 2) -> model input coordinates (..., 2)."""
    h, w = original_size
    out = points.clone()
    out[..., 0] = out[..., 0] / w
    out[..., 1] = out[..., 1] / h
    return out * size


def postprocess_masks_full(low_res: torch.Tensor, original_size: tuple[int, int]) -> torch.Tensor:
    """(B, K, 256, 256) logits -> (B, K, H, W) logits at the original size (official reference)."""
    return F.interpolate(low_res.float(), original_size, mode="bilinear", align_corners=False)
