"""SAM 2's memory encoder (keys ``memory_encoder.*``): fuses a frame's image features with its
predicted mask into a compact 64-channel memory for later frames.

pix_feat (B, 256, 64, 64) + mask logits (B, 1, 1024, 1024) -> memory features (B, 64, 64, 64) and
their sine position encoding (1, 64, 64, 64). Used by the video path only; the image path loads
the weights (the checkpoint contract) but never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.common.layers import LayerNorm2d
from model_runtime.models.sam2.position_encoding import sine_position_encoding


@dataclass(frozen=True)
class MemoryEncoderConfig:
    """Constants shared by every released SAM 2 / 2.1 config."""

    in_dim: int = 256
    out_dim: int = 64
    downsample_kernel: int = 3
    downsample_stride: int = 2
    downsample_padding: int = 1
    downsample_total_stride: int = 16
    fuser_layers: int = 2
    fuser_kernel: int = 7
    fuser_padding: int = 3


class MaskDownSampler(nn.Module):
    """(B, 1, 1024, 1024) -> (B, in_dim, 64, 64): four stride-2 conv + LayerNorm2d + GELU stages
    (channels 1 -> 4 -> 16 -> 64 -> 256) and a 1×1 projection. Keys ``encoder.{0,1,3,4,...,12}``."""

    def __init__(self, config: MemoryEncoderConfig) -> None:
        super().__init__()
        stride = config.downsample_stride
        num_layers = 0
        while stride ** (num_layers + 1) <= config.downsample_total_stride:
            num_layers += 1
        self.encoder = nn.Sequential()
        in_ch = 1
        for _ in range(num_layers):
            out_ch = in_ch * stride**2
            self.encoder.append(
                nn.Conv2d(
                    in_ch,
                    out_ch,
                    kernel_size=config.downsample_kernel,
                    stride=stride,
                    padding=config.downsample_padding,
                )
            )
            self.encoder.append(LayerNorm2d(out_ch))
            self.encoder.append(nn.GELU())
            in_ch = out_ch
        self.encoder.append(nn.Conv2d(in_ch, config.in_dim, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise 7×7 conv, LayerNorm2d, pointwise MLP (as Linear), layer scale.
    (B, C, H, W) -> (B, C, H, W). Keys: ``dwconv``, ``norm``, ``pwconv1``, ``pwconv2``, ``gamma``."""

    def __init__(self, dim: int, kernel_size: int, padding: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=padding, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    """A stack of CXBlocks. Keys ``layers.{i}.*``."""

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
    """Keys: ``mask_downsampler.*``, ``pix_feat_proj``, ``fuser.*``, ``out_proj``."""

    def __init__(self, config: MemoryEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.mask_downsampler = MaskDownSampler(config)
        self.pix_feat_proj = nn.Conv2d(config.in_dim, config.in_dim, kernel_size=1)
        self.fuser = Fuser(config)
        self.out_proj = nn.Conv2d(config.in_dim, config.out_dim, kernel_size=1)

    def forward(
        self, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """pix_feat (B, 256, 64, 64), masks (B, 1, 1024, 1024) -> (features (B, 64, 64, 64),
        position encoding (1, 64, 64, 64))."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        masks = self.mask_downsampler(masks)
        x = self.pix_feat_proj(pix_feat.to(masks.device)) + masks
        x = self.out_proj(self.fuser(x))
        pos = sine_position_encoding(self.config.out_dim, (x.shape[-2], x.shape[-1]), x.device).to(x.dtype)
        return x, pos
