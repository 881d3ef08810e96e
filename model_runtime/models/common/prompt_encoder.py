"""SAM's prompt encoder: points, boxes and low-res masks -> sparse and dense embeddings.

Shared by SAM 1, MobileSAM and SAM 2/2.1 (identical keys). Keys::

    pe_layer.positional_encoding_gaussian_matrix   (2, embed_dim // 2)
    point_embeddings.{0..3}.weight                 (1, embed_dim)  neg, pos, box corner 1, corner 2
    not_a_point_embed.weight                       (1, embed_dim)
    mask_downscaling.{0,1,3,4,6}.*                 conv 1->c/4, LN2d, GELU, conv c/4->c, LN2d, GELU, conv c->D
    no_mask_embed.weight                           (1, embed_dim)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model_runtime.models.common.layers import LayerNorm2d

# Point labels: -1 padding ("not a point"), 0 negative click, 1 positive click; SAM 2 also feeds box
# corners as points with labels 2 (top-left) and 3 (bottom-right).
PAD_LABEL = -1


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding of 2-D coordinates.

    Key: ``positional_encoding_gaussian_matrix`` (2, num_pos_feats). Output has 2 * num_pos_feats
    channels: sin then cos of 2π·((2·xy − 1) @ G).
    """

    def __init__(self, num_pos_feats: int = 64) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn((2, num_pos_feats)))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords: (..., 2) x, y normalised to [0, 1] -> (..., 2 * num_pos_feats)."""
        coords = 2 * coords - 1
        coords = coords @ self.positional_encoding_gaussian_matrix
        coords = (2 * math.pi) * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encode the centre of every cell of an (h, w) grid -> (C, h, w)."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self._encode(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """coords: (B, N, 2) pixel x, y in an image of (H, W) = image_size -> (B, N, C)."""
        scale = torch.tensor([image_size[1], image_size[0]], dtype=torch.float32, device=coords.device)
        return self._encode(coords.to(torch.float32) / scale)


class PromptEncoder(nn.Module):
    """Embeds prompts for SAM's mask decoder.

    embed_dim D (256), image_embedding_size (h, w) = (64, 64), input_image_size (1024, 1024),
    mask_in_chans 16. Low-res masks are (B, 1, 4h, 4w) = (B, 1, 256, 256).
    """

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image embedding grid: (1, D, h, w)."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """points: (B, N, 2) pixel x, y in the model input frame; labels: (B, N) in {-1, 0, 1, 2, 3}.

        ``pad`` appends one "not a point" token, as the official code does when no box is given.
        Returns (B, N (+1), D).
        """
        points = points + 0.5  # the centre of the pixel
        if pad:
            b = points.shape[0]
            points = torch.cat([points, points.new_zeros((b, 1, 2))], dim=1)
            labels = torch.cat([labels, labels.new_full((b, 1), PAD_LABEL)], dim=1)
        emb = self.pe_layer.forward_with_coords(points, self.input_image_size)
        labels = labels[..., None]
        emb = torch.where(labels == PAD_LABEL, self.not_a_point_embed.weight.expand_as(emb), emb)
        for label, table in enumerate(self.point_embeddings):
            emb = torch.where(labels == label, emb + table.weight, emb)
        return emb

    def embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """boxes: (B, 4) x0, y0, x1, y1 in the model input frame -> (B, 2, D) corner tokens."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        emb = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_ids = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight], dim=0)
        return emb + corner_ids

    def embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """masks: (B, 1, 256, 256) logits -> (B, D, 64, 64)."""
        return self.mask_downscaling(masks)

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns sparse (B, N_tokens, D) and dense (B, D, h, w) embeddings."""
        if points is not None:
            bs = points[0].shape[0]
        elif boxes is not None:
            bs = boxes.shape[0]
        elif masks is not None:
            bs = masks.shape[0]
        else:
            bs = 1
        weight = self.no_mask_embed.weight
        parts = [weight.new_empty((bs, 0, self.embed_dim))]
        if points is not None:
            parts.append(self.embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            parts.append(self.embed_boxes(boxes))
        sparse = torch.cat(parts, dim=1)
        if masks is not None:
            dense = self.embed_masks(masks)
        else:
            h, w = self.image_embedding_size
            dense = weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        return sparse, dense
