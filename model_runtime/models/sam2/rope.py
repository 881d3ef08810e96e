"""Axial 2D rotary position encoding (RoPE) used by SAM 2's memory attention.

Each head channel pair ``(2i, 2i+1)`` of a token at grid cell ``(x, y)`` is rotated by an angle
that depends on ``x`` for the first half of the pairs and on ``y`` for the second half, with
frequencies ``theta ** (-4k / head_dim)`` for ``k < head_dim / 4``. The official code does this
with complex multiplication; we use the equivalent real form with precomputed cos/sin tables
(``(a + ib)(c + is) = (ac - bs) + i(as + bc)``) so the tables can be cached per grid size.
With the tables repeated per channel (``cos2``, ``sin2``: each pair's cos/sin twice) and the
pairs swapped (``(a, b) -> (-b, a)``), a rotation is ``x * cos2 + swap(x) * sin2``: fewer passes
over x than the half-size form, and a constant (the memory's temporal term) is rotated as it is
added (:func:`add_rotated_constant`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch


@dataclass(frozen=True)
class RopeTables:
    """cos and sin of the rotation angles: each (N, head_dim // 2) float32 for N = end_x * end_y
    tokens in row-major (y, x) order."""

    cos: torch.Tensor
    sin: torch.Tensor

    @cached_property
    def interleaved(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos2, sin2), each (N, head_dim): every pair's value for both of its channels."""
        return self.cos.repeat_interleave(2, dim=-1), self.sin.repeat_interleave(2, dim=-1)


def axial_rope_tables(head_dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> RopeTables:
    """Rotation tables for a grid of ``end_y`` rows by ``end_x`` columns.

    Angles are computed in float32 exactly as the official ``compute_axial_cis`` (float32
    frequencies, float32 outer product) so the rotated values agree to rounding.
    """
    if head_dim % 4:
        raise ValueError(f"axial RoPE needs a head dimension divisible by 4, got {head_dim}")
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 4)[: head_dim // 4].float() / head_dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = t % end_x
    t_y = torch.div(t, end_x, rounding_mode="floor")
    angles = torch.cat([torch.outer(t_x, freqs), torch.outer(t_y, freqs)], dim=-1)
    # torch.polar(1, a) is cos(a) + i sin(a); take the same float32 cos/sin.
    polar = torch.polar(torch.ones_like(angles), angles)
    return RopeTables(cos=polar.real.contiguous(), sin=polar.imag.contiguous())


def apply_rope(x: torch.Tensor, tables: RopeTables) -> torch.Tensor:
    """Rotate channel pairs of ``x``.

    x: (..., N, D) with N a multiple of the table length (the table repeats along N, which is how
    several memory frames of the same grid are rotated at once) -> same shape, float32.
    """
    n, d = x.shape[-2], x.shape[-1]
    table_n = tables.cos.shape[0]
    if n % table_n:
        raise ValueError(f"{n} tokens are not a whole number of {table_n}-token grids")
    cos2, sin2 = tables.interleaved
    grids = x.float().reshape(*x.shape[:-2], n // table_n, table_n, d)
    out = grids * cos2
    out.addcmul_(swap_pairs(grids), sin2)
    return out.reshape(x.shape)


def add_rotated_constant(
    base: torch.Tensor, vector: torch.Tensor, tables: RopeTables, out: torch.Tensor
) -> None:
    """``out = base + apply_rope(vector at every grid token)`` without materialising the rotated
    constant: base and out (..., N, D) with N the table length, vector (..., 1, D)."""
    cos2, sin2 = tables.interleaved
    torch.addcmul(base, cos2, vector, out=out)
    out.addcmul_(sin2, swap_pairs(vector))


def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D) with each channel pair (a, b) replaced by (-b, a)."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
