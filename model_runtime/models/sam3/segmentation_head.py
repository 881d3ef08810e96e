"""SAM 3's mask head: instance masks at 288² for chosen decoder queries.

The official ``UniversalSegmentationHead`` for instances:

1. the fused image tokens cross-attend once more to the prompt (``cross_attn_norm``,
   ``cross_attend_prompt``, residual);
2. a pixel decoder climbs the detector neck from 72² to 288²: at each finer level, the level's
   neck features plus the coarser result upsampled ×2 (nearest), then a 3×3 convolution,
   GroupNorm(8) and ReLU (``pixel_decoder.conv_layers.{0,1}``, ``pixel_decoder.norms.{0,1}``;
   the official module builds a third pair it never runs);
3. a 1×1 convolution (``instance_seg_head``) gives per-pixel embeddings; a query's mask logits are
   their dot product with ``mask_predictor.mask_embed`` (3-layer MLP) of the query.

Beyond the official code, which makes 200 masks and a semantic map per prompt:

- masks are made only for the queries asked for; the semantic head is never run;
- the 1×1 convolution is folded into the queries' embeddings (``W_instᵀ·e`` and ``bᵀ·e``), so it
  never runs over the 288² map;
- each pixel-decoder convolution is split by linearity: conv(neck + up(coarse)) =
  conv(neck) + conv(up(coarse)). The first term depends on the image only (:meth:`lateral`, once
  per image); the second is computed on the coarse grid — a 3×3 kernel over a ×2 nearest
  upsampling is four 2×2 kernels over the original, one per output phase — with 4/9 of the work.

Keys: ``cross_attend_prompt.*``, ``cross_attn_norm``, ``pixel_decoder.conv_layers.{i}``,
``pixel_decoder.norms.{i}``, ``instance_seg_head``, ``mask_predictor.mask_embed.layers.{0,1,2}``;
``semantic_seg_head`` and the unused third pixel-decoder pair are not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.common.layers import MLP
from model_runtime.models.sam3.attention import MultiheadAttention

UNUSED_KEYS = ("semantic_seg_head.",)
GROUPS = 8


@dataclass(frozen=True)
class SegmentationHeadConfig:
    d_model: int = 256
    num_heads: int = 8
    num_upsampling_stages: int = 3  # convolutions the official pixel decoder builds
    num_levels: int = 3  # neck levels read (288², 144², 72²): uses num_levels − 1 convolutions


class PixelDecoder(nn.Module):
    """Keys: ``conv_layers.{i}`` (D, D, 3, 3), ``norms.{i}`` GroupNorm(8, D)."""

    def __init__(self, d_model: int, num_convs: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(nn.Conv2d(d_model, d_model, 3, 1, 1) for _ in range(num_convs))
        self.norms = nn.ModuleList(nn.GroupNorm(GROUPS, d_model) for _ in range(num_convs))

    def lateral(self, index: int, level: torch.Tensor) -> torch.Tensor:
        """conv_layers[index](level) with its bias: (1, D, h, w) -> (1, D, h, w)."""
        return self.conv_layers[index](level)

    def plus_upsampled_conv(self, index: int, lateral: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """``lateral`` (1, D, 2h, 2w) + conv_layers[index] without bias applied to the ×2 nearest
        upsampling of ``coarse`` (B, D, h, w) -> (B, D, 2h, 2w); the convolution runs on the
        coarse grid, one 2×2 kernel per output phase."""
        weight = _phase_kernels(self.conv_layers[index].weight)  # (4·D, D, 2, 2)
        batch, channels, height, width = coarse.shape
        phases = F.conv2d(F.pad(coarse, (1, 1, 1, 1)), weight)  # (B, 4·D, h + 1, w + 1)
        phases = phases.view(batch, 2, 2, channels, height + 1, width + 1)
        out = lateral.expand(batch, -1, -1, -1).clone()
        for a in (0, 1):
            for b in (0, 1):
                out[:, :, a::2, b::2] += phases[:, a, b, :, a : a + height, b : b + width]
        return out

    def forward(self, laterals: list[torch.Tensor], coarsest: torch.Tensor) -> torch.Tensor:
        """laterals: :meth:`lateral` of the finer neck levels, coarsest first ((1, D, 144², ...),
        (1, D, 288², ...)); coarsest (B, D, 72, 72) -> (B, D, 288, 288) pixel features."""
        x = coarsest
        for index, lateral in enumerate(laterals):
            x = self.norms[index](self.plus_upsampled_conv(index, lateral, x)).relu_()
        return x


def _phase_kernels(weight: torch.Tensor) -> torch.Tensor:
    """(D, D, 3, 3) kernel -> (4·D, D, 2, 2): for output phase (a, b) of a ×2 nearest upsampling,
    the kernel over the zero-padded coarse grid whose 2×2 window at (i + a, j + b) gives fine
    pixel (2i + a, 2j + b)."""
    # Along one axis: phase 0 reads coarse (i − 1, i) with taps (k0, k1 + k2); phase 1 reads
    # (i, i + 1) with taps (k0 + k1, k2).
    rows = [
        torch.stack([weight[:, :, 0], weight[:, :, 1] + weight[:, :, 2]], dim=2),
        torch.stack([weight[:, :, 0] + weight[:, :, 1], weight[:, :, 2]], dim=2),
    ]  # each (D, D, 2, 3)
    kernels = []
    for a in (0, 1):
        r = rows[a]
        cols = [
            torch.stack([r[..., 0], r[..., 1] + r[..., 2]], dim=3),
            torch.stack([r[..., 0] + r[..., 1], r[..., 2]], dim=3),
        ]
        kernels.extend(cols)
    return torch.cat(kernels, dim=0)


class MaskPredictor(nn.Module):
    """Keys: ``mask_embed.layers.{0,1,2}``."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.mask_embed = MLP(d_model, d_model, d_model, 3)


class SegmentationHead(nn.Module):
    def __init__(self, config: SegmentationHeadConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.cross_attend_prompt = MultiheadAttention(d, config.num_heads)
        self.cross_attn_norm = nn.LayerNorm(d)
        self.pixel_decoder = PixelDecoder(d, config.num_levels - 1)
        self.instance_seg_head = nn.Conv2d(d, d, 1)
        self.mask_predictor = MaskPredictor(d)

    @staticmethod
    def unused_keys(config: SegmentationHeadConfig) -> tuple[str, ...]:
        """Checkpoint keys (relative to this head) inference does not read."""
        extra = tuple(
            f"pixel_decoder.{kind}.{i}."
            for i in range(config.num_levels - 1, config.num_upsampling_stages)
            for kind in ("conv_layers", "norms")
        )
        return UNUSED_KEYS + extra

    def laterals(self, finer_levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """The image-only half of the pixel decoder: finer neck levels finest first
        ((1, D, 288, 288), (1, D, 144, 144)) -> their convolutions, coarsest first."""
        ordered = list(reversed(finer_levels))
        # Contiguous (N, C, H, W) whatever the neck's layout: the mask product reads the map as
        # (C, H·W) without a copy, and an embedding back from the disk cache (which stores
        # tensors contiguous) gives bit-identical masks.
        return [self.pixel_decoder.lateral(i, level).contiguous() for i, level in enumerate(ordered)]

    def pixel_features(
        self,
        image: torch.Tensor,
        size: tuple[int, int],
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
        laterals: list[torch.Tensor],
    ) -> torch.Tensor:
        """image (B, HW, D) fused image tokens over ``size`` (H, W), prompt (B, P, D),
        prompt_padding (B, P), laterals (see :meth:`laterals`) -> (B, D, 4H, 4W)."""
        attended = self.cross_attend_prompt(
            self.cross_attn_norm(image), prompt, prompt, key_padding_mask=prompt_padding
        )
        image = image + attended
        batch, _, channels = image.shape
        coarsest = image.transpose(1, 2).reshape(batch, channels, *size)
        return self.pixel_decoder(laterals, coarsest)

    def mask_logits(self, pixels: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """pixels (D, h, w) of one prompt, queries (K, D) -> (K, h, w) mask logits."""
        embed = self.mask_predictor.mask_embed(queries)  # (K, D)
        weight = self.instance_seg_head.weight.flatten(1)  # (D_out, D_in)
        folded = embed @ weight  # (K, D_in)
        offset = embed @ self.instance_seg_head.bias  # (K,)
        channels, height, width = pixels.shape
        logits = folded @ pixels.reshape(channels, height * width) + offset[:, None]
        return logits.view(-1, height, width)
