"""SAM 3 image pre-processing, bit for bit like the official ``Sam3Processor``.

The official transform (torchvision ``v2``) on an (H, W, 3) uint8 array is: make it a contiguous
(3, H, W) uint8 tensor -> ``Resize((1008, 1008))`` (aspect ratio *not* kept; bilinear with
antialiasing) -> ``ToDtype(float32, scale=True)`` (``x * (1 / 255)``, a multiplication, not a
division) -> ``Normalize(0.5, 0.5)`` (``(x - 0.5) / 0.5``).

torchvision resizes uint8 images natively (a uint8 result, rounded inside the kernel) on CPUs
with AVX2/AVX-512 or on ARM64; elsewhere, and on GPUs, it resizes a float32 copy and rounds the
result back to uint8. Both ways give a uint8 image; they can differ by one level, so the same
branch is taken here. Pre-processing always runs on the CPU: the official predictor moves the
uint8 image to the model's device first, so on a GPU the float branch is the official one —
``native_uint8`` lets a caller say which device's rule to follow.
"""

from __future__ import annotations

import platform

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SIZE = 1008
MEAN = 0.5
STD = 0.5


def cpu_resizes_uint8_natively() -> bool:
    """Whether torchvision's CPU resize works on uint8 directly (its ``_do_native_uint8_resize_on_cpu``)."""
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in (
        "aarch64",
        "arm64",
    )


def resize_uint8(image: np.ndarray, size: int = IMAGE_SIZE, native_uint8: bool | None = None) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> uint8 (1, 3, size, size): antialiased bilinear, aspect not kept.

    ``native_uint8``: resize the uint8 tensor directly (None: as torchvision does on this CPU)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    # A (3, H, W) copy of the image (also when it is read-only, e.g. np.asarray of a PIL image).
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
    if tensor.shape[-2:] == (size, size):
        return tensor
    if native_uint8 is None:
        native_uint8 = cpu_resizes_uint8_natively()
    if native_uint8:
        return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    resized = F.interpolate(
        tensor.to(torch.float32), size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.round_().to(torch.uint8)


def preprocess_image(
    image: np.ndarray, size: int = IMAGE_SIZE, native_uint8: bool | None = None
) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (1, 3, size, size) in [-1, 1], as the official transform."""
    resized = resize_uint8(image, size, native_uint8)
    scaled = resized.to(torch.float32).mul_(1.0 / 255)
    mean = torch.tensor([MEAN] * 3, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor([STD] * 3, dtype=torch.float32).view(-1, 1, 1)
    return scaled.sub_(mean).div_(std)


def transform_points(
    points: torch.Tensor, original_size: tuple[int, int], size: int = IMAGE_SIZE
) -> torch.Tensor:
    """Pixel (x, y) in the original image (..., 2) -> model input coordinates (..., 2).

    As the official ``SAM2Transforms.transform_coords(normalize=True)``: x / W and y / H, then
    times ``size``, in that order (the rounding must match)."""
    h, w = original_size
    out = points.clone()
    out[..., 0] = out[..., 0] / w
    out[..., 1] = out[..., 1] / h
    return out * size
