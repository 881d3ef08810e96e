"""SAM 3's query scores: each decoder query against the mean of the prompt tokens.

The official ``DotProductScoring``: the prompt tokens (text then exemplars, *before* the fusion
encoder) go through a residual MLP with a LayerNorm on its output (``prompt_mlp``), are averaged
over the non-padding tokens and projected (``prompt_proj``); each query is projected
(``hs_proj``); the logit is their dot product / sqrt(D), clamped to ±12.

Keys: ``prompt_mlp.layers.{0,1}``, ``prompt_mlp.out_norm``, ``prompt_proj``, ``hs_proj``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CLAMP = 12.0


class PromptMLP(nn.Module):
    """x + Linear(ReLU(Linear(x))), then LayerNorm. Keys: ``layers.{0,1}``, ``out_norm``."""

    def __init__(self, d_model: int, hidden_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d_model, hidden_dim), nn.Linear(hidden_dim, d_model)])
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_norm(self.layers[1](F.relu(self.layers[0](x))) + x)


class DotProductScoring(nn.Module):
    def __init__(self, d_model: int = 256, hidden_dim: int = 2048) -> None:
        super().__init__()
        self.prompt_mlp = PromptMLP(d_model, hidden_dim)
        self.prompt_proj = nn.Linear(d_model, d_model)
        self.hs_proj = nn.Linear(d_model, d_model)
        self.scale = float(1.0 / math.sqrt(d_model))

    def forward(
        self, queries: torch.Tensor, prompt: torch.Tensor, prompt_padding: torch.Tensor
    ) -> torch.Tensor:
        """queries (B, Q, D), prompt (B, P, D), prompt_padding bool (B, P) True = padding
        -> logits (B, Q)."""
        prompt = self.prompt_mlp(prompt)
        valid = (~prompt_padding).to(prompt.dtype)[..., None]  # (B, P, 1)
        pooled = (prompt * valid).sum(dim=1) / torch.clamp(valid.sum(dim=1), min=1.0)  # (B, D)
        pooled = self.prompt_proj(pooled)
        logits = torch.matmul(self.hs_proj(queries), pooled[..., None]).squeeze(-1) * self.scale
        return logits.clamp(min=-CLAMP, max=CLAMP)
