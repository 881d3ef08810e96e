"""SAM 1's ViT image encoder (ViTDet-style): windowed + global attention with decomposed
relative position embeddings, followed by a convolutional neck.

Input (B, 3, 1024, 1024) normalised pixels -> output (B, 256, 64, 64). Keys (prefix
``image_encoder.``)::

    patch_embed.proj.{weight,bias}     (D, 3, 16, 16), (D,)
    pos_embed                          (1, 64, 64, D)
    blocks.{i}.norm1/norm2             LayerNorm(D, eps=1e-6)
    blocks.{i}.attn.qkv, attn.proj     Linear(D, 3D), Linear(D, D)
    blocks.{i}.attn.rel_pos_h/_w       (2·S − 1, D / heads); S = 14 (windowed) or 64 (global)
    blocks.{i}.mlp.lin1/lin2           Linear(D, 4D), Linear(4D, D)
    neck.0 conv1x1 (no bias), neck.1 LayerNorm2d, neck.2 conv3x3 (no bias), neck.3 LayerNorm2d
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from model_runtime.models.common.layers import LayerNorm2d, MLPBlock


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of one ViT size; the official sizes are below."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    out_chans: int = 256

    @property
    def grid(self) -> int:
        """Tokens per side: 64 for 1024 / 16."""
        return self.img_size // self.patch_size


VIT_B = ViTConfig("vit_b", embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))
VIT_L = ViTConfig("vit_l", embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23))
VIT_H = ViTConfig("vit_h", embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))
VIT_CONFIGS = (VIT_B, VIT_L, VIT_H)

# Global attention over 4096 tokens builds a (heads, 4096, 4096) bias; doing a few heads at a
# time keeps peak memory near that of one head group instead of all heads at once.
_GLOBAL_HEADS_PER_CHUNK = 4


def relative_position_table(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Embedding of each (query, key) offset along one axis: rel_pos (L, C) -> (size, size, C).

    ``L`` is 2·size − 1 for the official checkpoints at 1024 px; other lengths are resampled
    linearly, as the official code does.
    """
    length = 2 * size - 1
    if rel_pos.shape[0] != length:
        rel_pos = F.interpolate(rel_pos.T[None], size=length, mode="linear").reshape(-1, length).T
    coords = torch.arange(size, device=rel_pos.device)
    offsets = coords[:, None] - coords[None, :] + (size - 1)
    return rel_pos[offsets]


class Attention(nn.Module):
    """Multi-head self-attention over an (h, w) token grid with decomposed relative positions.

    x: (B, h, w, D) -> (B, h, w, D).
    """

    def __init__(self, dim: int, num_heads: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        n = h * w
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, C)
        table_h = relative_position_table(h, self.rel_pos_h)  # (h, h, C)
        table_w = relative_position_table(w, self.rel_pos_w)  # (w, w, C)
        step = self.num_heads if n <= 1024 else _GLOBAL_HEADS_PER_CHUNK
        outs = []
        for start in range(0, self.num_heads, step):
            qc = q[:, start : start + step]
            # bias[b, head, (y, x), (y', x')] = q·R_h[y, y'] + q·R_w[x, x']
            grid_q = qc.reshape(b, -1, h, w, qc.shape[-1])
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, table_h)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, table_w)
            bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, -1, n, n)
            outs.append(
                F.scaled_dot_product_attention(
                    qc, k[:, start : start + step], v[:, start : start + step], attn_mask=bias
                )
            )
        out = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        return self.proj(out.transpose(1, 2).reshape(b, h, w, -1))


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(B, H, W, C) -> (B · nWindows, window, window, C), zero-padding bottom/right.

    The padded zeros take part in attention as keys, exactly as in the official model.
    """
    b, h, w, c = x.shape
    pad_h = (window - h % window) % window
    pad_w = (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded: tuple[int, int], size: tuple[int, int]
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (B, H, W, C) with the padding cut off."""
    hp, wp = padded
    h, w = size
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.view(b, hp // window, wp // window, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, hp, wp, -1)
    return x[:, :h, :w] if (hp > h or wp > w) else x


class Block(nn.Module):
    """Pre-norm transformer block; ``window_size`` 0 means global attention. x: (B, H, W, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int, grid: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        size = window_size if window_size > 0 else grid
        self.attn = Attention(dim, num_heads, input_size=(size, size))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio), nn.GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            windows, padded = window_partition(x, self.window_size)
            x = window_unpartition(self.attn(windows), self.window_size, padded, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Non-overlapping 16×16 patches: (B, 3, H, W) -> (B, H/16, W/16, D)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    """(B, 3, 1024, 1024) -> (B, out_chans, 64, 64)."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        self.img_size = config.img_size
        d, g = config.embed_dim, config.grid
        self.patch_embed = PatchEmbed(config.patch_size, d)
        self.pos_embed = nn.Parameter(torch.zeros(1, g, g, d))
        self.blocks = nn.ModuleList(
            Block(
                d,
                config.num_heads,
                config.mlp_ratio,
                window_size=0 if i in config.global_attn_indexes else config.window_size,
                grid=g,
            )
            for i in range(config.depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(d, config.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(config.out_chans),
            nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(config.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))


def vit_config_from_state_dict(
    state_dict: dict[str, torch.Tensor], prefix: str = "image_encoder."
) -> ViTConfig | None:
    """Recognise the ViT size from tensor shapes (never the file name); None if no official size fits.

    Only the width (patch embedding) and the number of blocks decide; every other shape is then
    checked by the strict load, whose error names the offending keys.
    """
    proj = state_dict.get(prefix + "patch_embed.proj.weight")
    if proj is None or proj.ndim != 4:
        return None
    blocks = {k[len(prefix) :].split(".")[1] for k in state_dict if k.startswith(prefix + "blocks.")}
    depth = len(blocks)
    for config in VIT_CONFIGS:
        if (config.embed_dim, config.depth) == (proj.shape[0], depth):
            return config
    return None
