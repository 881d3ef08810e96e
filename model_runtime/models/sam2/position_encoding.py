"""Sine positional encodings used by SAM 2's neck and memory encoder (no weights)."""

from __future__ import annotations

import math

import torch


def sine_position_encoding(
    num_feats: int, hw: tuple[int, int], device: torch.device | str = "cpu", temperature: float = 10000.0
) -> torch.Tensor:
    """The normalised 2-D sine encoding of a (H, W) grid: (1, num_feats, H, W).

    The first half of the channels encodes y, the second x; within each half, sin and cos of
    the same frequency interleave. Positions run 1..H (1..W) divided by H (W) + 1e-6 and scaled
    by 2π, exactly as the official ``PositionEmbeddingSine(normalize=True)``.
    """
    if num_feats % 2:
        raise ValueError(f"num_feats must be even, got {num_feats}")
    half = num_feats // 2
    h, w = hw
    scale = 2 * math.pi
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device).view(1, -1, 1).repeat(1, 1, w)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device).view(1, 1, -1).repeat(1, h, 1)
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)
    pos_x = x[:, :, :, None] / dim_t
    pos_y = y[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
