"""SAM 2's memory attention (keys ``memory_attention.*``): conditions the current frame's
stride-16 features on memories of earlier frames and on object pointers.

Four layers of (self-attention with 2-D rotary position encoding, cross-attention to the memory
tokens with RoPE on the spatial memories but not on the object-pointer tokens, ReLU MLP), pre-norm,
then a final LayerNorm. Used by the video path only; the image path loads the weights (the
checkpoint contract) but never calls it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MemoryAttentionConfig:
    """Constants shared by every released SAM 2 / 2.1 config."""

    d_model: int = 256
    kv_in_dim: int = 64
    dim_feedforward: int = 2048
    num_layers: int = 4
    num_heads: int = 1
    rope_theta: float = 10000.0
    feat_sizes: tuple[int, int] = (64, 64)
    pos_enc_at_input: bool = True


def axial_rope_cis(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Complex rotations (end_x·end_y, dim/2): first half rotates by the x index, second by y."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = (t % end_x).float()
    t_y = torch.div(t, end_x, rounding_mode="floor").float()
    fx = torch.outer(t_x, freqs)
    fy = torch.outer(t_y, freqs)
    return torch.cat([torch.polar(torch.ones_like(fx), fx), torch.polar(torch.ones_like(fy), fy)], dim=-1)


def apply_rope(
    q: torch.Tensor, k: torch.Tensor, cis: torch.Tensor, repeat_k: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q (B, h, Nq, d) and k (B, h, Nk, d) by ``cis`` (Nq, d/2); k may hold several
    frames' tokens (Nk = r·Nq, ``repeat_k``)."""
    q_c = torch.view_as_complex(q.float().reshape(*q.shape[:-1], -1, 2))
    cis = cis.view(1, 1, *cis.shape)
    q_out = torch.view_as_real(q_c * cis).flatten(3).type_as(q)
    if k.shape[-2] == 0:
        return q_out, k
    k_c = torch.view_as_complex(k.float().reshape(*k.shape[:-1], -1, 2))
    if repeat_k:
        r = k_c.shape[-2] // q_c.shape[-2]
        cis = cis.unsqueeze(2).expand(-1, -1, r, -1, -1).flatten(2, 3)
    k_out = torch.view_as_real(k_c * cis).flatten(3).type_as(k)
    return q_out, k_out


class RoPEAttention(nn.Module):
    """q (B, Nq, D), k/v (B, Nk, kv_in_dim) -> (B, Nq, D). The last ``num_k_exclude_rope`` keys
    (object pointers) are not rotated. Keys: ``{q,k,v,out}_proj``."""

    def __init__(self, config: MemoryAttentionConfig, kv_in_dim: int, rope_k_repeat: bool) -> None:
        super().__init__()
        dim = config.d_model
        self.num_heads = config.num_heads
        self.theta = config.rope_theta
        self.rope_k_repeat = rope_k_repeat
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_in_dim, dim)
        self.v_proj = nn.Linear(kv_in_dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self._cis: dict[tuple[int, torch.device], torch.Tensor] = {}

    def _rope(self, n: int, device: torch.device) -> torch.Tensor:
        key = (n, device)
        if key not in self._cis:
            side = int(math.isqrt(n))
            head_dim = self.q_proj.out_features // self.num_heads
            self._cis[key] = axial_rope_cis(head_dim, side, side, self.theta).to(device)
        return self._cis[key]

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int = 0
    ) -> torch.Tensor:
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        if q.shape[-2] != k.shape[-2] and not self.rope_k_repeat:
            raise ValueError("keys and queries differ in length but rope_k_repeat is off")
        n_rope = k.shape[-2] - num_k_exclude_rope
        q, k_rot = apply_rope(q, k[:, :, :n_rope], self._rope(q.shape[-2], q.device), self.rope_k_repeat)
        k = torch.cat([k_rot, k[:, :, n_rope:]], dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


class MemoryAttentionLayer(nn.Module):
    """Keys: ``self_attn.*``, ``cross_attn_image.*``, ``linear1``, ``linear2``, ``norm1..3``."""

    def __init__(self, config: MemoryAttentionConfig) -> None:
        super().__init__()
        dim = config.d_model
        self.self_attn = RoPEAttention(config, dim, rope_k_repeat=False)
        self.cross_attn_image = RoPEAttention(config, config.kv_in_dim, rope_k_repeat=True)
        self.linear1 = nn.Linear(dim, config.dim_feedforward)
        self.linear2 = nn.Linear(config.dim_feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(
        self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, num_k_exclude_rope: int = 0
    ) -> torch.Tensor:
        """tgt (B, N, D); memory and pos (B, M, kv_in_dim). Positions are added to the keys of
        the cross-attention only (released configs)."""
        x = self.norm1(tgt)
        tgt = tgt + self.self_attn(x, x, x)
        x = self.norm2(tgt)
        tgt = tgt + self.cross_attn_image(x, memory + pos, memory, num_k_exclude_rope=num_k_exclude_rope)
        x = self.norm3(tgt)
        return tgt + self.linear2(F.relu(self.linear1(x)))


class MemoryAttention(nn.Module):
    """curr (N, B, D) seq-first + curr_pos, memory (M, B, 64) + memory_pos -> (N, B, D).
    Keys: ``layers.{i}.*``, ``norm``."""

    def __init__(self, config: MemoryAttentionConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(MemoryAttentionLayer(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.d_model)

    def forward(
        self,
        curr: torch.Tensor,
        memory: torch.Tensor,
        curr_pos: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int = 0,
    ) -> torch.Tensor:
        out = curr
        if self.config.pos_enc_at_input:
            out = out + 0.1 * curr_pos
        out = out.transpose(0, 1)
        memory = memory.transpose(0, 1)
        memory_pos = memory_pos.transpose(0, 1)
        for layer in self.layers:
            out = layer(out, memory, memory_pos, num_k_exclude_rope=num_obj_ptr_tokens)
        return self.norm(out).transpose(0, 1)
