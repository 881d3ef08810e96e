"""SAM 2 memory encoder: fuse a frame's features with its predicted mask into a memory.

``mask (B, 1, 1024, 1024)`` is downsampled ×16 by four stride-2 convs (channels 1→4→16→64→256,
each followed by LayerNorm2d + GELU, then a 1×1 conv to 256), added to a 1×1 projection of the
frame's stride-16 features ``(B, 256, 64, 64)``, refined by two ConvNeXt blocks and projected to
``mem_dim`` (64) channels. Keys follow the official checkpoint: ``memory_encoder.mask_downsampler.
encoder.{i}``, ``pix_feat_proj``, ``fuser.layers.{i}.{dwconv,norm,pwconv1,pwconv2,gamma}``,
``out_proj``. The memory's positional encoding is the parameter-free sine encoding
(:func:`~model_runtime.models.sam2.position_encoding.sine_position_encoding`), the same for
every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.common.layers import LayerNorm2d
from model_runtime.models.sam2.position_encoding import sine_position_encoding


@dataclass(frozen=True)
class MemoryEncoderConfig:
    """Hyper-parameters shared by every official SAM 2 / 2.1 variant."""

    in_dim: int = 256
    out_dim: int = 64
    downsample_kernel: int = 3
    downsample_stride: int = 2
    downsample_padding: int = 1
    downsample_total_stride: int = 16
    fuser_layers: int = 2
    fuser_kernel: int = 7
    fuser_padding: int = 3
    # SAM 3's tracker first resizes the mask (bilinear, antialiased) to this side, so that the
    # four stride-2 convolutions land on its 72² grid (1152 / 16); None: no resize (SAM 2).
    mask_resize: int | None = None


class MaskDownSampler(nn.Module):
    """(B, 1, H, W) mask probabilities -> (B, in_dim, H/16, W/16) (after the optional resize to
    ``mask_resize``²). Keys: ``encoder.{i}``."""

    def __init__(self, config: MemoryEncoderConfig) -> None:
        super().__init__()
        s = config.downsample_stride
        num = int(math.log2(config.downsample_total_stride) // math.log2(s))
        layers: list[nn.Module] = []
        cin = 1
        for _ in range(num):
            cout = cin * s * s
            layers += [
                nn.Conv2d(cin, cout, config.downsample_kernel, s, config.downsample_padding),
                LayerNorm2d(cout),
                nn.GELU(),
            ]
            cin = cout
        layers.append(nn.Conv2d(cin, config.in_dim, kernel_size=1))
        self.encoder = nn.Sequential(*layers)
        self.resize = config.mask_resize

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        side = self.resize
        if side is not None and tuple(mask.shape[-2:]) != (side, side):
            mask = F.interpolate(
                mask.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True
            )
        return self.encoder(mask)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise 7×7 conv, LayerNorm2d, pointwise MLP ×4, layer scale, residual.
    (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, dim: int, kernel: int, padding: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel, padding=padding, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    """Keys: ``layers.{i}``."""

    def __init__(self, config: MemoryEncoderConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CXBlock(config.in_dim, config.fuser_kernel, config.fuser_padding)
            for _ in range(config.fuser_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Frame features + mask probabilities -> memory features (B, out_dim, 64, 64)."""

    def __init__(self, config: MemoryEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or MemoryEncoderConfig()
        self.mask_downsampler = MaskDownSampler(self.config)
        self.pix_feat_proj = nn.Conv2d(self.config.in_dim, self.config.in_dim, kernel_size=1)
        self.fuser = Fuser(self.config)
        self.out_proj = nn.Conv2d(self.config.in_dim, self.config.out_dim, kernel_size=1)

    def forward(
        self, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """pix_feat (B, in_dim, h, w) stride-16 features; masks (B, 1, 16h, 16w) logits, or
        probabilities already in [0, 1] with ``skip_mask_sigmoid`` -> (features (B, out_dim, h, w),
        their position encoding (1, out_dim, h, w))."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(masks)
        x = self.out_proj(self.fuser(x))
        pos = sine_position_encoding(self.config.out_dim, (x.shape[-2], x.shape[-1]), x.device).to(x.dtype)
        return x, pos
