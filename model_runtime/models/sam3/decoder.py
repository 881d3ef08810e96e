"""SAM 3's detection decoder: 200 object queries and a presence token read the fused image.

The official ``TransformerDecoder`` as the image model configures it (six post-norm layers,
iterative box refinement, a presence token, box relative-position bias "log", DAC off at
inference). Per layer, for queries carrying a reference box (normalised cx, cy, w, h; the first
from ``reference_points``):

1. the query position encoding is ``ref_point_head`` of the sine encoding of the reference box;
2. self-attention among [presence token, queries] (position on the queries only);
3. cross-attention to the prompt tokens (``ca_text``);
4. cross-attention to the image tokens with, as attention bias, a per-head function of each
   pixel's offset from the query's box edges (``boxRPB_embed_x/y``, on log-scaled offsets; 0 for
   the presence token);
5. the feed-forward block;
6. the box is refined: ``sigmoid(inverse_sigmoid(ref) + bbox_embed(norm(query)))``.

Outputs of the last layer only (the image path reads nothing else): the normed queries, their
refined boxes and the presence logit (``presence_token_head`` of the normed presence token; the
official clamp of this logit is a no-op, its result being discarded, so there is none here).

Keys: ``layers.{i}.*`` (:class:`DecoderLayer`), ``norm``, ``bbox_embed``, ``query_embed``,
``reference_points``, ``boxRPB_embed_x``, ``boxRPB_embed_y``, ``presence_token``,
``presence_token_head``, ``presence_token_out_norm``, ``ref_point_head``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.common.intra_op import intra_op_threads
from model_runtime.models.sam3.attention import MultiheadAttention
from model_runtime.models.sam3.geometry_encoder import box_xyxy


@dataclass(frozen=True)
class DecoderConfig:
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    num_layers: int = 6
    num_queries: int = 200


@dataclass
class DecoderOutput:
    """The last layer's answer for B prompts.

    queries:  (B, Q, D) the normed query features (what scoring and the mask head read)
    boxes:    (B, Q, 4) normalised cx, cy, w, h
    presence: (B,) the presence logit
    """

    queries: torch.Tensor
    boxes: torch.Tensor
    presence: torch.Tensor


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The official ``inverse_sigmoid``: log(x / (1 − x)) with both clamped at ``eps``."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def sine_embed_boxes(boxes: torch.Tensor, d_model: int) -> torch.Tensor:
    """(..., 4) normalised cx, cy, w, h -> (..., 2·d_model): [enc(cy), enc(cx), enc(w), enc(h)],
    each d_model / 2 wide with sin/cos interleaved (official ``gen_sineembed_for_position``)."""
    half = d_model // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=boxes.device)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    parts = []
    for index in (1, 0, 2, 3):
        angles = (boxes[..., index] * (2 * math.pi))[..., None] / dim_t
        parts.append(torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2))
    return torch.cat(parts, dim=-1)


class MLP(nn.Module):
    """Linear layers with ReLU between them (applied in place). Keys: ``layers.{i}``."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., input_dim) -> (..., output_dim)."""
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < last:
                x = x.relu_()
        return x


class DecoderLayer(nn.Module):
    """Keys: ``self_attn``, ``norm2``, ``ca_text``, ``catext_norm``, ``cross_attn``, ``norm1``,
    ``linear1``, ``linear2``, ``norm3``."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        d = config.d_model
        self.self_attn = MultiheadAttention(d, config.num_heads)
        self.norm2 = nn.LayerNorm(d)
        self.ca_text = MultiheadAttention(d, config.num_heads)
        self.catext_norm = nn.LayerNorm(d)
        self.cross_attn = MultiheadAttention(d, config.num_heads)
        self.norm1 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, config.ffn_dim)
        self.linear2 = nn.Linear(config.ffn_dim, d)
        self.norm3 = nn.LayerNorm(d)

    def forward(
        self,
        tokens: torch.Tensor,
        pos: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
        image_projected: tuple[torch.Tensor, torch.Tensor],
        image_bias: torch.Tensor,
    ) -> torch.Tensor:
        """tokens (B, 1 + Q, D) [presence, queries], pos (B, 1 + Q, D) (zero for presence),
        prompt (B, P, D), prompt_padding bool (B, P), image_projected: ``cross_attn``'s keys and
        values of the image tokens, image_bias (B, heads, Q, HW) for the queries -> (B, 1 + Q, D)."""
        with _small(tokens):
            qk = tokens + pos
            tokens = self.norm2(tokens + self.self_attn(qk, qk, tokens))
            tokens = self.catext_norm(
                tokens + self.ca_text(tokens + pos, prompt, prompt, key_padding_mask=prompt_padding)
            )
            query = tokens + pos
        # The presence token has no box, hence no bias: it attends on its own (rows of an
        # attention are independent), so the queries' bias needs no zero row for it.
        attended = torch.cat(
            [
                self.cross_attn(query[:, :1], projected=image_projected),
                self.cross_attn(query[:, 1:], attn_bias=image_bias, projected=image_projected),
            ],
            dim=1,
        )
        # Float32 even under autocast, as the official decoder layer's feed-forward.
        with _small(tokens), torch.autocast(tokens.device.type, enabled=False):
            tokens = self.norm1(tokens + attended)
            return self.norm3(tokens + self.linear2(self.linear1(tokens.float()).relu_()))


class Decoder(nn.Module):
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        d, heads = config.d_model, config.num_heads
        self.config = config
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(d)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.query_embed = nn.Embedding(config.num_queries, d)
        self.reference_points = nn.Embedding(config.num_queries, 4)
        self.boxRPB_embed_x = MLP(2, d, heads, 2)  # noqa: N815 - checkpoint key
        self.boxRPB_embed_y = MLP(2, d, heads, 2)  # noqa: N815 - checkpoint key
        self.presence_token = nn.Embedding(1, d)
        self.presence_token_head = MLP(d, d, 1, 3)
        self.presence_token_out_norm = nn.LayerNorm(d)
        self.ref_point_head = MLP(2 * d, d, d, 2)

    def forward(
        self,
        image: torch.Tensor,
        image_pos: torch.Tensor,
        size: tuple[int, int],
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
    ) -> DecoderOutput:
        """image (B, HW, D) fused image tokens (row-major over ``size`` (H, W)), image_pos
        (1, HW, D), prompt (B, P, D), prompt_padding bool (B, P)."""
        batch = image.shape[0]
        tokens = torch.cat(
            [
                self.presence_token.weight[None].expand(batch, -1, -1),
                self.query_embed.weight[None].expand(batch, -1, -1),
            ],
            dim=1,
        )
        boxes = self.reference_points.weight.sigmoid()[None].expand(batch, -1, -1)
        keys = image + image_pos
        no_pos = tokens.new_zeros((batch, 1, self.config.d_model))
        for layer in self.layers:
            with _small(tokens):
                pos = torch.cat(
                    [no_pos, self.ref_point_head(sine_embed_boxes(boxes, self.config.d_model))], dim=1
                )
            bias = self.box_bias(boxes, size)
            projected = layer.cross_attn.project_key_value(keys, image)
            tokens = layer(tokens, pos, prompt, prompt_padding, projected, bias)
            with _small(tokens):
                offsets = self.bbox_embed(self.norm(tokens[:, 1:]))
                boxes = (inverse_sigmoid(boxes) + offsets).sigmoid()
        with _small(tokens):
            presence = self.presence_token_head(self.presence_token_out_norm(tokens[:, 0])).squeeze(-1)
            return DecoderOutput(queries=self.norm(tokens[:, 1:]), boxes=boxes, presence=presence)

    def box_bias(self, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """boxes (B, Q, 4) cx, cy, w, h -> (B, heads, Q, H·W): for pixel (y, x) of the (H, W) grid
        (coordinates y / H, x / W), ``embed_y(offsets of y from the box's top and bottom)`` +
        ``embed_x(offsets of x from its left and right)``, offsets log-scaled."""
        height, width = size
        corners = box_xyxy(boxes)  # (B, Q, 4)
        rows = torch.arange(height, dtype=torch.float32, device=boxes.device) / height
        cols = torch.arange(width, dtype=torch.float32, device=boxes.device) / width
        dy = _log_offsets(rows[None, None, :, None] - corners[:, :, None, 1:4:2])  # (B, Q, H, 2)
        dx = _log_offsets(cols[None, None, :, None] - corners[:, :, None, 0:3:2])  # (B, Q, W, 2)
        by = self.boxRPB_embed_y(dy).permute(0, 3, 1, 2)  # (B, heads, Q, H)
        bx = self.boxRPB_embed_x(dx).permute(0, 3, 1, 2)  # (B, heads, Q, W)
        bias = by.new_empty((*by.shape, width))
        torch.add(by[..., :, None], bx[..., None, :], out=bias)
        return bias.flatten(-2)


def _small(tokens: torch.Tensor) -> contextlib.AbstractContextManager[None]:
    """Operations on the queries alone (a few hundred tokens) run on one intra-op thread on the
    CPU: their work is too small to split, and splitting it costs a thread barrier each
    (:mod:`~model_runtime.models.common.intra_op`). The image-sized ones (keys and values of the
    5,184 image tokens, the box bias, the cross-attention) keep every thread."""
    return intra_op_threads(1) if tokens.device.type == "cpu" else contextlib.nullcontext()


def _log_offsets(delta: torch.Tensor) -> torch.Tensor:
    """Offsets in [-1, 1] -> sign · log2(8·|offset| + 1) / 3, in [-1, 1]."""
    scaled = delta * 8
    return torch.sign(scaled) * torch.log2(torch.abs(scaled) + 1.0) / 3.0
