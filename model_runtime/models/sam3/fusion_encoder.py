"""SAM 3's fusion encoder: the image tokens attend to each other and to the prompt tokens.

Six pre-norm layers (:class:`EncoderLayer`, position encoding on the self-attention's queries and
keys) over the 72² = 5,184 image tokens of the coarsest detector-neck level, each cross-attending
to the prompt (text tokens, then exemplar tokens). The official ``TransformerEncoderFusion`` with
``add_pooled_text_to_img_feat=False``, one feature level, no image padding.

Beyond the official code: the first layer's self-attention reads only the image tokens and their
position encoding, so it is the same for every prompt on an image; :meth:`first_self_attention`
computes it once per image and :meth:`forward` takes it instead of recomputing it (about a sixth
of the encoder's work per phrase).

Keys: ``layers.{i}.*`` (see :class:`EncoderLayer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.sam3.encoder_layer import EncoderLayer, EncoderLayerConfig


@dataclass(frozen=True)
class FusionEncoderConfig:
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    num_layers: int = 6

    def layer(self) -> EncoderLayerConfig:
        return EncoderLayerConfig(self.d_model, self.num_heads, self.ffn_dim, pos_at_self_attn=True)


class FusionEncoder(nn.Module):
    def __init__(self, config: FusionEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(EncoderLayer(config.layer()) for _ in range(config.num_layers))

    def first_self_attention(self, image: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """image (1, HW, D) tokens, pos (1, HW, D) -> (1, HW, D): layer 0's self-attention block,
        which no prompt influences."""
        return self.layers[0].self_attention(image, pos)

    def forward(
        self,
        image: torch.Tensor,
        pos: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
        first_self_attention: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """image (1, HW, D) tokens of one image, pos (1, HW, D), prompt (B, P, D) for B prompts,
        prompt_padding bool (B, P) True = padding -> (B, HW, D) fused image tokens.

        ``first_self_attention``: :meth:`first_self_attention` of this image, if already known."""
        if first_self_attention is None:
            first_self_attention = self.first_self_attention(image, pos)
        batch = prompt.shape[0]
        tokens = first_self_attention.expand(batch, -1, -1)
        for index, layer in enumerate(self.layers):
            if index > 0:
                tokens = layer.self_attention(tokens, pos)
            tokens = layer.cross_attention_and_ffn(tokens, prompt, memory_padding=prompt_padding)
        return tokens
