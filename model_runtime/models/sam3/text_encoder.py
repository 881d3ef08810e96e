"""SAM 3's text encoder: a causal CLIP-style transformer over 32 token ids, then a resizer.

Keys (under ``detector.backbone.language_backbone.``): ``encoder.token_embedding.weight``
(vocab, width), ``encoder.positional_embedding`` (context, width),
``encoder.transformer.resblocks.{i}.{ln_1, attn.in_proj_weight, attn.in_proj_bias,
attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``, ``encoder.ln_final``, ``resizer`` (width ->
d_model). The file also holds ``encoder.text_projection`` (width, 512), which projects a pooled
sentence vector the detector never uses; it is not loaded (``checkpoint.py``).

Released model: vocabulary 49,408, context 32, width 1024, 16 heads, 24 layers, MLP 4096, exact
GELU, d_model 256. Every position attends to itself and earlier ones only, so a phrase's
features do not depend on the padding after it nor on the other phrases of a batch.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.sam3.features import TextFeatures


@dataclass(frozen=True)
class TextEncoderConfig:
    """Sizes of the text encoder. Defaults are the released model's."""

    vocab_size: int = 49408
    context_length: int = 32
    width: int = 1024
    heads: int = 16
    layers: int = 24
    mlp_dim: int = 4096
    d_model: int = 256
    layer_norm_eps: float = 1e-5


class CausalSelfAttention(nn.Module):
    """(B, L, W) -> (B, L, W), each position attending to itself and earlier positions.

    Keys as ``nn.MultiheadAttention``: ``in_proj_weight`` (3W, W), ``in_proj_bias``, ``out_proj``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, width = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).view(b, length, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, L, head_dim) each
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(b, length, width))


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), then + mlp(ln_2(x)). Keys: ``ln_1``, ``attn``, ``ln_2``, ``mlp``."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        w = config.width
        self.ln_1 = nn.LayerNorm(w, eps=config.layer_norm_eps)
        self.attn = CausalSelfAttention(w, config.heads)
        self.ln_2 = nn.LayerNorm(w, eps=config.layer_norm_eps)
        layers = [
            ("c_fc", nn.Linear(w, config.mlp_dim)),
            ("gelu", nn.GELU()),
            ("c_proj", nn.Linear(config.mlp_dim, w)),
        ]
        self.mlp = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """Keys: ``resblocks.{i}``."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(config) for _ in range(config.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class TextTransformer(nn.Module):
    """Token ids (B, L) -> token features (B, L, W). Keys: ``token_embedding``,
    ``positional_embedding``, ``transformer``, ``ln_final``."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.positional_embedding = nn.Parameter(torch.zeros(config.context_length, config.width))
        self.transformer = Transformer(config)
        self.ln_final = nn.LayerNorm(config.width, eps=config.layer_norm_eps)

    def forward(self, ids: torch.Tensor, embeds: torch.Tensor | None = None) -> torch.Tensor:
        """ids: long (B, L); ``embeds``: their token embeddings if already looked up."""
        x = self.token_embedding(ids) if embeds is None else embeds
        x = x + self.positional_embedding[: ids.shape[1]]
        return self.ln_final(self.transformer(x))


class TextEncoder(nn.Module):
    """Token ids (B, context) -> :class:`TextFeatures`. Keys: ``encoder.*``, ``resizer``."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = TextTransformer(config)
        self.resizer = nn.Linear(config.width, config.d_model)

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        """ids: long (B, context), 0 after ``[EOT]`` -> features for those B phrases."""
        embeds = self.encoder.token_embedding(ids)  # (B, L, W)
        tokens = self.encoder(ids, embeds)  # (B, L, W)
        return TextFeatures(
            language_features=self.resizer(tokens.transpose(0, 1)),  # (L, B, d_model)
            language_mask=ids == 0,  # (B, L): True at padding
            language_embeds=embeds.transpose(0, 1),  # (L, B, W)
        )
