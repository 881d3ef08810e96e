"""SAM 2 memory encoder: fuse a frame's features with its predicted mask into a memory.

``mask (B, 1, 1024, 1024)`` is downsampled ×16 by four stride-2 convs (channels 1→4→16→64→256,
each followed by LayerNorm2d + GELU, then a 1×1 conv to 256), added to a 1×1 projection of the
frame's stride-16 features ``(B, 256, 64, 64)``, refined by two ConvNeXt blocks and projected to
``mem_dim`` (64) channels. Keys follow the official checkpoint: ``memory_encoder.mask_downsampler.
encoder.{i}``, ``pix_feat_proj``, ``fuser.layers.{i}.{dwconv,norm,pwconv1,pwconv2,gamma}``,
``out_proj``. The memory's positional encoding is the parameter-free sine encoding
(:func:`sine_position_encoding`), identical for every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.common.layers import LayerNorm2d


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


class MaskDownSampler(nn.Module):
    """(B, 1, H, W) mask probabilities -> (B, in_dim, H/16, W/16). Keys: ``encoder.{i}``."""

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

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(mask)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise 7×7 conv, LayerNorm2d, pointwise MLP ×4, layer scale, residual.
    (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
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
            CXBlock(config.in_dim, config.fuser_kernel) for _ in range(config.fuser_layers)
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

    def forward(self, pix_feat: torch.Tensor, mask_probs: torch.Tensor) -> torch.Tensor:
        """pix_feat: (B, in_dim, h, w) stride-16 features; mask_probs: (B, 1, 16h, 16w) already in
        [0, 1] (sigmoid or binarised, scaled by the caller) -> (B, out_dim, h, w)."""
        x = self.pix_feat_proj(pix_feat) + self.mask_downsampler(mask_probs)
        return self.out_proj(self.fuser(x))


def sine_position_encoding(channels: int, height: int, width: int, temperature: float = 10000.0) -> torch.Tensor:
    """The normalised 2D sine encoding (DETR style) -> (1, channels, height, width) float32.

    The first half of the channels encodes y, the second x, as interleaved sin/cos of
    ``pos / temperature^(2⌊i/2⌋ / (channels/2))`` with positions 1..n scaled to (0, 2π].
    """
    half = channels // 2
    scale = 2 * math.pi
    eps = 1e-6
    y = torch.arange(1, height + 1, dtype=torch.float32).view(1, -1, 1).repeat(1, 1, width)
    x = torch.arange(1, width + 1, dtype=torch.float32).view(1, 1, -1).repeat(1, height, 1)
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    pos_x = x[:, :, :, None] / dim_t
    pos_y = y[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
