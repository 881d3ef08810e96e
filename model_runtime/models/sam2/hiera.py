"""Hiera: SAM 2's hierarchical image trunk (keys ``image_encoder.trunk.*``).

A 7×7/4 patch embedding gives (B, 256, 256, C) tokens for a 1024² input; four stages follow, each
starting (except the first) with a block that max-pools the queries 2×2 and doubles the width and
heads, so the stages see 256², 128², 64² and 32² tokens. Most blocks attend within square windows;
a few (``global_att_blocks``) attend globally. Token layout is channels-last (B, H, W, C) throughout,
as in the official code, because the window partition and the MLPs are cheapest that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.common.layers import MLP


@dataclass(frozen=True)
class HieraConfig:
    """One Hiera size. Constants from the official ``configs/sam2*/sam2*_hiera_*.yaml``."""

    embed_dim: int = 96
    num_heads: int = 1
    stages: tuple[int, ...] = (2, 3, 16, 3)
    global_att_blocks: tuple[int, ...] = (12, 16, 20)
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)
    q_pool: int = 3
    q_stride: tuple[int, int] = (2, 2)
    dim_mul: float = 2.0
    head_mul: float = 2.0

    @property
    def stage_ends(self) -> list[int]:
        """Index of the last block of each stage."""
        return [sum(self.stages[: i + 1]) - 1 for i in range(len(self.stages))]

    @property
    def channel_list(self) -> list[int]:
        """Output widths, deepest stage first (the order the FPN neck expects)."""
        dims = [int(self.embed_dim * self.dim_mul**i) for i in range(len(self.stages))]
        return dims[::-1]


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B·nW, window, window, C), zero-padding H and W up to multiples of window."""
    b, h, w, c = x.shape
    pad_h = (window - h % window) % window
    pad_w = (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B·nW, window, window, C) -> (B, H, W, C)."""
    hp, wp = padded_hw
    h, w = hw
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.reshape(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :]
    return x


def pool_tokens(x: torch.Tensor, pool: nn.Module) -> torch.Tensor:
    """Apply a 2-D pooling layer to channels-last tokens (B, H, W, C) -> (B, H', W', C)."""
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Self-attention whose queries may be max-pooled (stage transitions).

    x: (B, H, W, dim) -> (B, H', W', dim_out); H' = H / q_stride when pooling, else H.
    Keys: ``qkv`` (dim -> 3·dim_out), ``proj`` (dim_out -> dim_out).
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1)
        q, k, v = torch.unbind(qkv, 2)  # each (B, HW, heads, head_dim)
        if self.q_pool is not None:
            q = pool_tokens(q.reshape(b, h, w, -1), self.q_pool)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        out = out.transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(out)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block with optional windowing and query pooling.

    x: (B, H, W, dim) -> (B, H', W', dim_out). When dim != dim_out the shortcut is projected
    (``proj``) and pooled like the queries. Keys: ``norm1``, ``attn.*``, ``norm2``,
    ``mlp.layers.{0,1}``, and ``proj`` at stage transitions.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        q_stride: tuple[int, int] | None,
        window_size: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.window_size = window_size
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride) if q_stride else None
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_pool=self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, num_layers=2, activation=nn.GELU)
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            shortcut = self.proj(x)
            if self.pool is not None:
                shortcut = pool_tokens(shortcut, self.pool)

        window = self.window_size
        if window > 0:
            h, w = x.shape[1], x.shape[2]
            x, padded_hw = window_partition(x, window)
        x = self.attn(x)
        if self.q_stride:
            # The queries were pooled: the windows shrank by the stride too.
            window = self.window_size // self.q_stride[0]
            h, w = shortcut.shape[1:3]
            padded_hw = (h + (window - h % window) % window, w + (window - w % window) % window)
        if self.window_size > 0:
            x = window_unpartition(x, window, padded_hw, (h, w))

        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """(B, 3, H, W) -> (B, H/4, W/4, C) with a 7×7 stride-4 convolution. Key: ``proj``."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """The trunk. forward: (B, 3, 1024, 1024) -> list of (B, C_i, H_i, W_i), highest resolution first
    (strides 4, 8, 16, 32; widths embed_dim·2^i).

    Keys: ``patch_embed.proj``, ``pos_embed`` (1, C, *bkg_size), ``pos_embed_window``
    (1, C, w0, w0), ``blocks.{i}.*``.
    """

    def __init__(self, config: HieraConfig) -> None:
        super().__init__()
        self.config = config
        self.stage_ends = config.stage_ends
        q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][: config.q_pool]

        self.patch_embed = PatchEmbed(config.embed_dim)
        self.pos_embed = nn.Parameter(
            torch.zeros(1, config.embed_dim, *config.window_pos_embed_bkg_spatial_size)
        )
        first_window = config.window_spec[0]
        self.pos_embed_window = nn.Parameter(torch.zeros(1, config.embed_dim, first_window, first_window))

        dim, heads, stage = config.embed_dim, config.num_heads, 0
        self.blocks = nn.ModuleList()
        for i in range(sum(config.stages)):
            dim_out = dim
            # The window size lags a block behind the stage: the first block of a stage pools
            # with the previous stage's window, as the official code does.
            window = 0 if i in config.global_att_blocks else config.window_spec[stage]
            if i - 1 in self.stage_ends:
                dim_out = int(dim * config.dim_mul)
                heads = int(heads * config.head_mul)
                stage += 1
            self.blocks.append(
                MultiScaleBlock(
                    dim,
                    dim_out,
                    heads,
                    q_stride=config.q_stride if i in q_pool_blocks else None,
                    window_size=window,
                )
            )
            dim = dim_out
        # The interpolated positional embedding depends only on the weights and the token grid;
        # computed once per grid size, it is the same tensor the official code rebuilds each call.
        self._pos_cache: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._pos_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    def position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        """(1, H, W, C): the background embedding resized bicubically, plus the window embedding
        tiled over the grid."""
        key = (hw[0], hw[1], self.pos_embed.device, self.pos_embed.dtype)
        cached = self._pos_cache.get(key)
        if cached is not None and not self.training:
            return cached
        pos = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        window = self.pos_embed_window
        reps = [p // w for p, w in zip(pos.shape, window.shape, strict=True)]
        pos = (pos + window.tile(reps)).permute(0, 2, 3, 1)
        if not self.training:
            self._pos_cache[key] = pos.detach()
        return pos

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)
        x = x + self.position_embedding((x.shape[1], x.shape[2]))
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
