"""SAM 3's sine position encodings (no weights): of a feature grid, and of box / point coordinates.

The grid encoding is the same maths as SAM 2's (the official SAM 3 ``PositionEmbeddingSine``
with ``normalize=True`` is the SAM 2 one), so it is shared. ``encode_xy``, ``encode_boxes`` and
``encode_points`` are the official ``_encode_xy`` / ``encode_boxes`` / ``encode_points`` used by
the geometry (exemplar) encoder: coordinates are already normalised to [0, 1].
"""

from __future__ import annotations

import math

import torch

from model_runtime.models.sam2.position_encoding import sine_position_encoding

__all__ = ["encode_boxes", "encode_points", "encode_xy", "sine_position_encoding"]

_TEMPERATURE = 10000.0


def encode_xy(x: torch.Tensor, y: torch.Tensor, num_feats: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y: (N,) normalised coordinates -> (N, num_feats // 2) each, sin/cos interleaved."""
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got {tuple(x.shape)} and {tuple(y.shape)}")
    half = num_feats // 2
    scale = 2 * math.pi
    dim_t = torch.arange(half, dtype=torch.float32, device=x.device)
    dim_t = _TEMPERATURE ** (2 * (dim_t // 2) / half)
    pos_x = (x * scale)[:, None] / dim_t
    pos_y = (y * scale)[:, None] / dim_t
    pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
    pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
    return pos_x, pos_y


def encode_boxes(
    cx: torch.Tensor, cy: torch.Tensor, w: torch.Tensor, h: torch.Tensor, num_feats: int
) -> torch.Tensor:
    """Normalised boxes (N,) each -> (N, num_feats + 2): [enc(cy), enc(cx), h, w]."""
    pos_x, pos_y = encode_xy(cx, cy, num_feats)
    return torch.cat((pos_y, pos_x, h[:, None], w[:, None]), dim=1)


def encode_points(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, num_feats: int) -> torch.Tensor:
    """Normalised points (B, N) each and labels (B, N) -> (B, N, num_feats + 1): [enc(y), enc(x), label]."""
    if x.shape != y.shape or x.shape != labels.shape or x.ndim != 2:
        raise ValueError(
            "x, y, labels must be (B, N) alike, got "
            f"{tuple(x.shape)}, {tuple(y.shape)}, {tuple(labels.shape)}"
        )
    b, n = x.shape
    pos_x, pos_y = encode_xy(x.flatten(), y.flatten(), num_feats)
    pos_x, pos_y = pos_x.reshape(b, n, -1), pos_y.reshape(b, n, -1)
    return torch.cat((pos_y, pos_x, labels[:, :, None]), dim=2)
