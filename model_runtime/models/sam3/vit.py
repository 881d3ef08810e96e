"""SAM 3's image trunk: a plain ViT (ViTDet style) with window and global attention and 2-D RoPE.

Keys (under ``detector.backbone.vision_backbone.trunk.``): ``patch_embed.proj.weight`` (no bias),
``pos_embed`` (1, 1 + P², C) learnt at the pre-training size P×P (24² for the released model,
with a class-token row that is dropped), ``ln_pre``, ``blocks.{i}.{norm1, attn.qkv, attn.proj,
attn.freqs_cis, norm2, mlp.fc1, mlp.fc2}``. The stored ``freqs_cis`` (complex64) are the rotary
factors: (window², head_dim / 2) in window blocks, (G², head_dim / 2) in global blocks, where G
is the token grid (72 for 1008² inputs); the first half of each row rotates by x, the second by y.

Released model: 1008² input, patch 14 -> 72×72 tokens, 1024 wide, 32 blocks, 16 heads, MLP 4736,
windows of 24×24, global attention in blocks 7, 15, 23, 31; the absolute position table is
*tiled* (not interpolated) from 24×24 to 72×72. The output is the token map after the last
global block, as (B, C, G, G).

Computation order (same results as the official ``ViT``, different memory traffic): every
operation except attention is per token, and attention with RoPE does not depend on the order of
the tokens as long as each keeps its own rotary factors. So when the grid divides into whole
windows, the tokens are put in window order once, stay in that order through every block —
window blocks attend within contiguous runs of window² tokens, global blocks attend over all of
them with their rotary factors permuted to the same order — and are put back in raster order
once at the end. When windows would need padding (a grid that is not a multiple of the window),
each window block pads and partitions as the official code does, since the zero padding then
takes part in attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """The trunk's sizes. Defaults are the released model's."""

    embed_dim: int = 1024
    depth: int = 32
    num_heads: int = 16
    mlp_dim: int = 4736
    patch_size: int = 14
    image_size: int = 1008
    pretrain_grid: int = 24  # the position table's side (pre-training image 336 / patch 14)
    window_size: int = 24
    global_blocks: tuple[int, ...] = (7, 15, 23, 31)
    layer_norm_eps: float = 1e-5

    @property
    def grid(self) -> int:
        """Tokens per side: 72 for the released model."""
        return self.image_size // self.patch_size

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def out_block(self) -> int:
        """The block whose output is returned (the last global one); later blocks never matter."""
        return self.global_blocks[-1]

    def __post_init__(self) -> None:
        if not self.global_blocks:
            raise ValueError("the ViT needs at least one global-attention block (its output)")
        if self.embed_dim % self.num_heads or self.head_dim % 4:
            raise ValueError(
                f"width {self.embed_dim} with {self.num_heads} heads: head_dim must be a multiple of 4"
            )


class PatchEmbed(nn.Module):
    """(B, 3, S, S) -> (B, S/p, S/p, C). Keys: ``proj.weight`` (no bias)."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        p = config.patch_size
        self.proj = nn.Conv2d(3, config.embed_dim, kernel_size=p, stride=p, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Mlp(nn.Module):
    """(..., C) -> (..., C): fc1, exact GELU, fc2. Keys: ``fc1``, ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with 2-D rotary position encoding over groups of L tokens.

    (N, L, C) -> (N, L, C): N independent groups (windows, or whole images). ``freqs_cis`` is
    (L, head_dim / 2) complex in the order the tokens arrive. Keys: ``qkv``, ``proj``,
    ``freqs_cis``.
    """

    def __init__(self, dim: int, num_heads: int, rope_tokens: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        head_dim = dim // num_heads
        self.register_buffer("freqs_cis", torch.ones(rope_tokens, head_dim // 2, dtype=torch.complex64))

    def forward(self, x: torch.Tensor, freqs_cis: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, L, C); ``freqs_cis``: (L, head_dim / 2) complex, default the stored table."""
        n, length, dim = x.shape
        heads = self.num_heads
        freqs = self.freqs_cis if freqs_cis is None else freqs_cis
        qkv = self.qkv(x).view(n, length, 3, heads, -1)  # (N, L, 3, heads, head_dim)
        rot = freqs[:, None, :]  # (L, 1, head_dim / 2): broadcast over heads
        q = _rotate(qkv[:, :, 0], rot).transpose(1, 2)  # (N, heads, L, head_dim)
        k = _rotate(qkv[:, :, 1], rot).transpose(1, 2)
        v = qkv[:, :, 2].transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, heads, L, head_dim)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Scratch:
    """Output buffers reused by every block of one forward pass, by name.

    A fresh multi-megabyte tensor is new memory that the kernel maps page by page as it is first
    written; reusing the same buffers for the 32 blocks' qkv projections (64 MB at full size) and
    MLP hidden layers (98 MB) makes that happen once per image instead of once per block.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or (buffer.shape, buffer.dtype, buffer.device) != (shape, like.dtype, like.device):
            buffer = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._buffers[name] = buffer
        return buffer


def _rotate(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """x: (N, L, heads, head_dim) real, consecutive pairs as complex numbers; rot: (L, 1, head_dim / 2)
    complex -> x rotated, (N, L, heads, head_dim). The complex view is taken in place (no copy)
    when x is float32; other dtypes rotate in float32 and come back, as the official code does."""
    x32 = x if x.dtype == torch.float32 else x.float()
    out = torch.view_as_real(torch.view_as_complex(x32.unflatten(-1, (-1, 2))) * rot).flatten(-2)
    return out if out.dtype == x.dtype else out.to(x.dtype)


class Block(nn.Module):
    """Pre-norm transformer block. (N, L, C) -> (N, L, C) on tokens in the caller's order.

    Keys: ``norm1``, ``attn``, ``norm2``, ``mlp``. ``window_size`` is 0 for a global block.
    """

    def __init__(self, config: ViTConfig, window_size: int) -> None:
        super().__init__()
        dim = config.embed_dim
        self.window_size = window_size
        rope_side = window_size if window_size else config.grid
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = Attention(dim, config.num_heads, rope_side * rope_side)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = Mlp(dim, config.mlp_dim)

    def forward(
        self,
        x: torch.Tensor,
        groups: int,
        freqs_cis: torch.Tensor | None = None,
        scratch: Scratch | None = None,
    ) -> torch.Tensor:
        """x: (N, L, C) tokens; attention runs within each of ``groups`` equal runs of them
        (windows) — N·L / groups tokens each. ``freqs_cis`` overrides the stored table.

        With ``scratch`` and a contiguous float32 ``x``, ``x`` is updated in place (see
        :meth:`_forward_in_place`); otherwise a new tensor is returned."""
        if scratch is not None and x.dtype == torch.float32 and x.is_contiguous():
            return self._forward_in_place(x, groups, freqs_cis, scratch)
        shape = x.shape
        h = self.norm1(x).reshape(groups, -1, shape[-1])
        x = x + self.attn(h, freqs_cis).view(shape)
        return x + self.mlp(self.norm2(x))

    def _forward_in_place(
        self, x: torch.Tensor, groups: int, freqs_cis: torch.Tensor | None, scratch: Scratch
    ) -> torch.Tensor:
        """The same block without large fresh allocations: the qkv projection and the MLP's hidden
        layer are written into reused buffers, q and k are rotated in place inside the qkv buffer
        and attended to as strided views, GELU runs in place, and each residual branch is
        accumulated into ``x`` by its output projection's matrix product (``x += b; x += h·Wᵀ``)."""
        c = x.shape[-1]
        tokens = x.view(-1, c)
        n = tokens.shape[0]
        length = n // groups
        attn, mlp = self.attn, self.mlp
        heads = attn.num_heads
        freqs = attn.freqs_cis if freqs_cis is None else freqs_cis

        qkv = scratch.take("qkv", (n, 3 * c), x)
        torch.addmm(attn.qkv.bias, self.norm1(tokens), attn.qkv.weight.t(), out=qkv)
        pairs = qkv.view(groups, length, 3, heads, -1, 2)
        rot = freqs[:, None, :]  # (L, 1, head_dim / 2)
        torch.view_as_complex(pairs[:, :, 0]).mul_(rot)
        torch.view_as_complex(pairs[:, :, 1]).mul_(rot)
        q, k, v = qkv.view(groups, length, 3, heads, -1).unbind(2)  # (N, L, heads, head_dim) each
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        tokens.add_(attn.proj.bias).addmm_(out.transpose(1, 2).reshape(n, c), attn.proj.weight.t())

        hidden = scratch.take("hidden", (n, mlp.fc1.out_features), x)
        torch.addmm(mlp.fc1.bias, self.norm2(tokens), mlp.fc1.weight.t(), out=hidden)
        torch.ops.aten.gelu_(hidden)
        tokens.add_(mlp.fc2.bias).addmm_(hidden, mlp.fc2.weight.t())
        return x

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) in raster order, for a window block whose windows need zero padding:
        pad after ``norm1``, attend per window, crop (the official order of operations)."""
        b, h, w, c = x.shape
        ws = self.window_size
        y = self.norm1(x)
        pad_h, pad_w = (ws - h % ws) % ws, (ws - w % ws) % ws
        y = F.pad(y, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        windows = y.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
        out = self.attn(windows)
        out = out.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
        x = x + out[:, :h, :w]
        return x + self.mlp(self.norm2(x))


def window_order(grid: int, window: int) -> torch.Tensor:
    """Raster index of each token in window order: windows row by row, raster inside each.
    (grid², ) long; ``grid`` must be a multiple of ``window``."""
    idx = torch.arange(grid * grid).view(grid // window, window, grid // window, window)
    return idx.permute(0, 2, 1, 3).reshape(-1)


def tiled_position_table(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """(1, 1 + P², C) learnt table (class row first) -> (1, grid, grid, C), tiled from P×P."""
    table = pos_embed[:, 1:]
    side = int(round(table.shape[1] ** 0.5))
    table = table.reshape(1, side, side, -1)
    if side == grid:
        return table
    reps = grid // side + 1
    return table.tile(1, reps, reps, 1)[:, :grid, :grid]


class ViT(nn.Module):
    """(B, 3, S, S) normalised image -> (B, C, S/p, S/p), the tokens after the last global block."""

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        c = config.embed_dim
        self.patch_embed = PatchEmbed(config)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + config.pretrain_grid**2, c))
        self.ln_pre = nn.LayerNorm(c, eps=config.layer_norm_eps)
        self.blocks = nn.ModuleList(
            Block(config, 0 if i in config.global_blocks else config.window_size)
            for i in range(config.depth)
        )

    def _used_blocks(self) -> list[Block]:
        """Blocks up to the last global one; later ones (none in the released model) never matter."""
        return list(self.blocks)[: self.config.out_block + 1]

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] != image.shape[-2]:
            raise ValueError(f"the ViT expects a square image, got {tuple(image.shape[-2:])}")
        x = self.patch_embed(image)
        b, h = x.shape[:2]
        x = self.ln_pre(x + tiled_position_table(self.pos_embed, h))
        if h % self.config.window_size == 0:
            return self._forward_window_order(x)
        for block in self._used_blocks():
            x = block.forward_padded(x) if block.window_size else block(x, groups=b)
        return x.permute(0, 3, 1, 2)

    def _forward_window_order(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, G, G, C) raster -> (B, C, G, G), running every block on window-ordered tokens."""
        b, g, _, c = x.shape
        ws = self.config.window_size
        order = window_order(g, ws).to(x.device)
        tokens = x.reshape(b, g * g, c)[:, order].reshape(b * g * g // (ws * ws), ws * ws, c)
        # Under autocast (bf16 on a GPU) the blocks run as the official ones: in-place products
        # into float32 buffers would bypass it.
        scratch = None if torch.is_autocast_enabled(x.device.type) else Scratch()
        for block in self._used_blocks():
            if block.window_size:
                tokens = block(tokens, groups=tokens.shape[0], scratch=scratch)
            else:
                freqs = block.attn.freqs_cis[order]
                tokens = block(tokens, groups=b, freqs_cis=freqs, scratch=scratch)
        raster = torch.empty_like(tokens.view(b, g * g, c))
        raster[:, order] = tokens.view(b, g * g, c)
        return raster.view(b, g, g, c).permute(0, 3, 1, 2)
