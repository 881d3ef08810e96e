"""The pre-norm transformer layer of SAM 3's fusion encoder and exemplar (geometry) encoder.

Self-attention over the layer's own tokens, cross-attention to another sequence, then a ReLU
feed-forward block, each pre-normed and residual (official ``TransformerEncoderLayer`` with
``pre_norm=True``). The two encoders differ only in where the position encoding is added:

- fusion encoder: to the image tokens' queries and keys in self-attention (``pos_at_self_attn``);
  the cross-attention to the prompt tokens has none;
- exemplar encoder: none in self-attention; to the image tokens serving as cross-attention keys
  (``pos_at_cross_keys``).

Keys: ``self_attn.*``, ``cross_attn_image.*`` (see :class:`MultiheadAttention`), ``linear1``,
``linear2``, ``norm1`` (before self-attention), ``norm2`` (before cross-attention), ``norm3``
(before the feed-forward block).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.sam3.attention import MultiheadAttention


@dataclass(frozen=True)
class EncoderLayerConfig:
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    pos_at_self_attn: bool = False
    pos_at_cross_keys: bool = False


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderLayerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.self_attn = MultiheadAttention(d, config.num_heads)
        self.cross_attn_image = MultiheadAttention(d, config.num_heads)
        self.linear1 = nn.Linear(d, config.ffn_dim)
        self.linear2 = nn.Linear(config.ffn_dim, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)

    def forward(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
        memory_pos: torch.Tensor | None = None,
        padding: torch.Tensor | None = None,
        memory_padding: torch.Tensor | None = None,
        memory_projected: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """tokens (B, L, D), their pos (B|1, L, D), padding bool (B, L) True = padding; memory
        (B|1, S, D), memory_pos (B|1, S, D), memory_padding bool (B, S) -> (B, L, D).

        ``memory_projected``: ``cross_attn_image.project_key_value`` of the memory's keys and
        values, when the caller computed them once for several calls."""
        tokens = self.self_attention(tokens, pos, padding)
        return self.cross_attention_and_ffn(tokens, memory, memory_pos, memory_padding, memory_projected)

    def self_attention(
        self, tokens: torch.Tensor, pos: torch.Tensor | None = None, padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first residual block alone (it depends on nothing but the tokens)."""
        x = self.norm1(tokens)
        qk = x + pos if self.config.pos_at_self_attn and pos is not None else x
        return tokens + self.self_attn(qk, qk, x, key_padding_mask=padding)

    def cross_attention_and_ffn(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor | None,
        memory_pos: torch.Tensor | None = None,
        memory_padding: torch.Tensor | None = None,
        memory_projected: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The second and third residual blocks."""
        if memory_projected is None:
            if memory is None:
                raise ValueError("give the memory or its projected keys and values")
            memory_projected = self.project_memory(memory, memory_pos)
        x = self.norm2(tokens)
        tokens = tokens + self.cross_attn_image(
            x, key_padding_mask=memory_padding, projected=memory_projected
        )
        x = self.norm3(tokens)
        return tokens + self.linear2(self.linear1(x).relu_())

    def project_memory(
        self, memory: torch.Tensor, memory_pos: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention's per-head keys and values of ``memory`` (B|1, S, D)."""
        keys = memory + memory_pos if self.config.pos_at_cross_keys and memory_pos is not None else memory
        return self.cross_attn_image.project_key_value(keys, memory)
