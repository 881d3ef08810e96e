"""SAM 2's image encoder: the Hiera trunk plus an FPN neck (keys ``image_encoder.*``).

The neck projects each trunk level to ``d_model`` (256) channels with a 1×1 conv and adds a
nearest-neighbour upsampled copy of the next coarser level on the ``top_down_levels`` only
(the stride-16 and stride-32 levels in every released config). The coarsest (stride-32) level
is then discarded ("scalp"): it only feeds the stride-16 level.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.sam2.hiera import Hiera, HieraConfig
from model_runtime.models.sam2.position_encoding import sine_position_encoding


@dataclass(frozen=True)
class NeckConfig:
    d_model: int = 256
    top_down_levels: tuple[int, ...] = (2, 3)
    scalp: int = 1


class FpnNeck(nn.Module):
    """levels: list of (B, C_i, H_i, W_i), finest first -> list of (B, d_model, H_i, W_i), finest first.

    Keys: ``convs.{j}.conv`` where j = 0 is the *coarsest* level (the official order).
    """

    def __init__(self, channel_list: list[int], config: NeckConfig) -> None:
        super().__init__()
        self.config = config
        self.convs = nn.ModuleList()
        for dim in channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, config.d_model, kernel_size=1))
            self.convs.append(lateral)

    def forward(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(self.convs) - 1
        out: list[torch.Tensor] = [levels[0]] * len(levels)
        previous: torch.Tensor | None = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](levels[i])
            if i in self.config.top_down_levels and previous is not None:
                top_down = F.interpolate(previous.to(torch.float32), scale_factor=2.0, mode="nearest")
                previous = lateral + top_down
            else:
                previous = lateral
            out[i] = previous
        return out


class ImageEncoder(nn.Module):
    """(B, 3, 1024, 1024) -> feature maps (B, 256, 256², 128², 64²), finest first, scalp applied.

    Keys: ``trunk.*`` (Hiera), ``neck.*`` (FPN).
    """

    def __init__(self, hiera: HieraConfig, neck: NeckConfig) -> None:
        super().__init__()
        self.trunk = Hiera(hiera)
        self.neck = FpnNeck(hiera.channel_list, neck)
        self.scalp = neck.scalp

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = self.neck(self.trunk(image))
        return features[: len(features) - self.scalp] if self.scalp > 0 else features

    def position_encodings(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The sine encodings (1, d_model, H_i, W_i) of each returned level (used by the video path)."""
        return [
            sine_position_encoding(self.neck.config.d_model, (f.shape[-2], f.shape[-1]), f.device).to(f.dtype)
            for f in features
        ]
