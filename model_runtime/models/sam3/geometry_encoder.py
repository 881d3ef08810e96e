"""SAM 3's exemplar encoder: example boxes (positive or negative) -> prompt tokens.

The official ``SequenceGeometryEncoder`` as the image model configures it (boxes not encoded as
points, every box encoding on, a CLS token, a final projection, three layers). Each box, given as
normalised (cx, cy, w, h), becomes one token, the sum of

- a direct linear projection of its four numbers (``boxes_direct_project``),
- its 7×7 RoIAlign pool (``aligned=False``, adaptive sampling) from the layer-normed (``img_pre_norm``)
  coarsest feature map, reduced by a 7×7 convolution (``boxes_pool_project``),
- a linear projection of its sine position encoding [enc(cy), enc(cx), h, w] (``boxes_pos_enc_project``),
- a label embedding (``label_embed``: row 1 positive, row 0 negative);

then a learned CLS token (``cls_embed``) is appended, every token goes through ``final_proj`` and
``norm``, three pre-norm layers (self-attention among the tokens, cross-attention to the image
tokens with their position encoding on the keys) and ``encode_norm``.

With no boxes at all (a text-only prompt) the result is the CLS token alone, which depends only on
the image: :meth:`GeometryEncoder.forward` is then the same for every phrase.

Point prompts exist in the official module (``points_*_project`` keys) but no image-model path
uses them; those weights are not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.sam3.encoder_layer import EncoderLayer, EncoderLayerConfig
from model_runtime.models.sam3.position_encoding import encode_boxes
from model_runtime.models.sam3.roi_align import roi_align

# Checkpoint keys of the official module that inference never reads.
UNUSED_KEYS = ("points_direct_project.", "points_pool_project.", "points_pos_enc_project.")


@dataclass(frozen=True)
class GeometryEncoderConfig:
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    num_layers: int = 3
    roi_size: int = 7

    def layer(self) -> EncoderLayerConfig:
        return EncoderLayerConfig(self.d_model, self.num_heads, self.ffn_dim, pos_at_cross_keys=True)


def box_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) cx, cy, w, h -> (..., 4) x0, y0, x1, y1 (the official ``box_cxcywh_to_xyxy``)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


class GeometryEncoder(nn.Module):
    """Keys: ``label_embed`` (2, D), ``cls_embed`` (1, D), ``boxes_direct_project`` (D, 4),
    ``boxes_pool_project`` (D, D, 7, 7), ``boxes_pos_enc_project`` (D, D + 2), ``final_proj``,
    ``norm``, ``img_pre_norm``, ``encode.{0,1,2}.*``, ``encode_norm``."""

    def __init__(self, config: GeometryEncoderConfig) -> None:
        super().__init__()
        d = config.d_model
        self.config = config
        self.label_embed = nn.Embedding(2, d)
        self.cls_embed = nn.Embedding(1, d)
        self.boxes_direct_project = nn.Linear(4, d)
        self.boxes_pool_project = nn.Conv2d(d, d, config.roi_size)
        self.boxes_pos_enc_project = nn.Linear(d + 2, d)
        self.final_proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.img_pre_norm = nn.LayerNorm(d)
        self.encode = nn.ModuleList(EncoderLayer(config.layer()) for _ in range(config.num_layers))
        self.encode_norm = nn.LayerNorm(d)

    def forward(
        self,
        image: torch.Tensor,
        pos: torch.Tensor,
        size: tuple[int, int],
        boxes: torch.Tensor | None = None,
        positive: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """image (1, HW, D) tokens of the coarsest level (row-major over ``size`` (H, W)), pos
        (1, HW, D); boxes (N, 4) normalised cx, cy, w, h and positive bool (N,), or None
        -> (1, N + 1, D): the boxes' tokens in order, then the CLS token."""
        cls = self.cls_embed.weight[None]  # (1, 1, D)
        if boxes is not None and len(boxes):
            if positive is None or positive.shape != boxes.shape[:1]:
                raise ValueError("give one positive/negative label per box")
            tokens = torch.cat([self._encode_boxes(image, size, boxes, positive), cls], dim=1)
        else:
            tokens = cls
        tokens = self.norm(self.final_proj(tokens))
        for layer in self.encode:
            tokens = layer(tokens, image, memory_pos=pos)
        return self.encode_norm(tokens)

    def _encode_boxes(
        self, image: torch.Tensor, size: tuple[int, int], boxes: torch.Tensor, positive: torch.Tensor
    ) -> torch.Tensor:
        """-> (1, N, D) one token per box, before the final projection."""
        height, width = size
        embed = self.boxes_direct_project(boxes)  # (N, D)
        normed = self.img_pre_norm(image)  # (1, HW, D)
        fmap = normed.transpose(1, 2).reshape(1, -1, height, width)
        scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
        pooled = roi_align(fmap, [box_xyxy(boxes) * scale], self.config.roi_size)  # (N, D, 7, 7)
        embed = embed + self.boxes_pool_project(pooled).flatten(1)
        cx, cy, w, h = boxes.unbind(-1)
        embed = embed + self.boxes_pos_enc_project(encode_boxes(cx, cy, w, h, self.config.d_model))
        return (self.label_embed(positive.long()) + embed)[None]
