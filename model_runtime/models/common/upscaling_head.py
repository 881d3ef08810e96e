"""The mask decoders' upscaling head, computed in a block order that needs no pixel shuffles.

Both families end their mask decoder the same way: the (h·w) image tokens go through two
kernel-2 stride-2 transposed convolutions (64² -> 128² -> 256²; a LayerNorm over channels and a
GELU between them, SAM 2 adds its high-resolution skip features after each), and each mask is a
dot product of a hypernetwork vector with the 256² feature map.

A kernel-2 stride-2 transposed convolution maps every input pixel to its own 2×2 output patch, so
it is one matrix product per token. Written naively (``ConvTranspose2d``, or a GEMM followed by a
pixel shuffle back to (C, 2h, 2w)) the shuffles cost more than the products on CPU. Here the
children of token ``n`` simply stay next to it — child ``4n + 2·dy + dx`` — through both stages,
the per-pixel operations (skip add, LayerNorm, GELU, the mask dot products) do not care about
the order, and only the final K masks (K ≤ 4 channels instead of 32-64) are put back in raster
order, by one gather per mask. The skip features are put into the same block order once per
image (:class:`SkipFeatures`).

Results agree with the official NCHW computation to float32 rounding (same sums, other order).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from model_runtime.models.common.layers import LayerNorm2d


def to_block_order(x: torch.Tensor, levels: int) -> torch.Tensor:
    """(B, C, H, W) feature map -> (B, H·W, C) tokens in block order for ``levels`` doublings.

    H and W must be divisible by 2**levels. Row ``i·2ⁿ + dy₁·2ⁿ⁻¹ + … + dyₙ`` (columns alike)
    goes to grid cell (i, j) and then, level by level, to children (dy₁, dx₁), …, (dyₙ, dxₙ).
    """
    b, c, h, w = x.shape
    step = 2**levels
    if h % step or w % step:
        raise ValueError(f"feature map {h}×{w} is not divisible by {step}")
    x = x.reshape(b, c, h // step, *([2] * levels), w // step, *([2] * levels))
    # dims: 0 b, 1 c, 2 grid rows, 3.. row bits, 3+levels grid cols, 4+levels.. col bits
    bits = [d for k in range(levels) for d in (3 + k, 4 + levels + k)]
    return x.permute(0, 2, 3 + levels, *bits, 1).reshape(b, h * w, c)


def from_block_order(x: torch.Tensor, grid: tuple[int, int], levels: int) -> torch.Tensor:
    """The inverse of :func:`to_block_order`: (B, H·W, C) -> (B, C, H, W) with H = grid_h·2ⁿ."""
    b, _, c = x.shape
    gh, gw = grid
    x = x.reshape(b, gh, gw, *([2] * (2 * levels)), c)
    # dims: 0 b, 1 grid rows, 2 grid cols, 3+2k row bit k, 4+2k col bit k, 3+2n channels
    rows = [3 + 2 * k for k in range(levels)]
    cols = [4 + 2 * k for k in range(levels)]
    step = 2**levels
    return x.permute(0, 3 + 2 * levels, 1, *rows, 2, *cols).reshape(b, c, gh * step, gw * step)


@functools.lru_cache(maxsize=8)
def _raster_index(grid: tuple[int, int], levels: int, device: torch.device) -> torch.Tensor:
    """int64 (H·W,) on ``device``: the block-order position of each raster-order pixel."""
    n = grid[0] * grid[1] * 4**levels
    positions = torch.arange(n, dtype=torch.float64).view(1, n, 1)  # exact up to 2⁵³ pixels
    return from_block_order(positions, grid, levels).reshape(-1).long().to(device)


def rows_to_raster(x: torch.Tensor, grid: tuple[int, int], levels: int) -> torch.Tensor:
    """(B, K, H·W) maps with pixels in block order -> (B, K, H, W) in raster order.

    The same permutation as :func:`from_block_order`, done as one gather per contiguous row: for
    the final K ≤ 4 masks the strided 8-axis permute copy costs ~8× more (1.4 vs 0.16 ms, 256²).
    """
    b, k, n = x.shape
    step = 2**levels
    index = _raster_index(tuple(grid), levels, x.device)
    if index.numel() != n:
        raise ValueError(f"{n} pixels per map, a {grid} grid with {levels} doublings has {index.numel()}")
    out = x.reshape(b * k, n).index_select(1, index)
    return out.view(b, k, grid[0] * step, grid[1] * step)


def conv_transpose_2x2(
    tokens: torch.Tensor, layer: nn.ConvTranspose2d, plus: torch.Tensor | None = None
) -> torch.Tensor:
    """A kernel-2 stride-2 transposed convolution on tokens: (B, N, Cin) -> (B, 4N, Cout), the
    2×2 children of token n at rows 4n..4n+3 (row-major within the patch).

    ``plus`` (B or 1, 4N, Cout), if given, is added to the result *instead of* the layer's bias
    (the caller has folded the bias into it), in the same fused multiply-add.
    """
    weight = layer.weight  # (Cin, Cout, 2, 2)
    cin, cout = weight.shape[:2]
    # Columns ordered (dy, dx, out channel): the product's rows then reshape without a copy.
    matrix = weight.permute(0, 2, 3, 1).reshape(cin, 4 * cout)
    b, n, _ = tokens.shape
    if plus is not None:
        out = torch.baddbmm(plus.view(-1, n, 4 * cout), tokens, matrix.expand(b, -1, -1))
    else:
        bias = layer.bias.repeat(4) if layer.bias is not None else None
        out = F.linear(tokens, matrix.t(), bias)
    return out.view(b, 4 * n, cout)


@dataclass(frozen=True)
class SkipFeatures:
    """SAM 2's high-resolution skip features in block order, each with the bias of the
    transposed convolution it is added to folded in (so that add is free, see
    :func:`conv_transpose_2x2`).

    s0: (B, 16·h·w, D/8) from the (B, D/8, 4h, 4w) stride-4 map (after ``conv_s0``);
    s1: (B, 4·h·w, D/4) from the (B, D/4, 2h, 2w) stride-8 map (after ``conv_s1``).
    B may be 1 for any batch.
    """

    s0: torch.Tensor
    s1: torch.Tensor

    @classmethod
    def from_maps(cls, s0: torch.Tensor, s1: torch.Tensor, upscaling: nn.Sequential) -> SkipFeatures:
        """``upscaling``: the decoder's ``output_upscaling`` whose transposed convolutions
        (indices 0 and 3) these features follow."""
        up1, up2 = upscaling[0], upscaling[3]
        return cls(s0=to_block_order(s0, 2) + up2.bias, s1=to_block_order(s1, 1) + up1.bias)

    def rows(self, index: torch.Tensor) -> SkipFeatures:
        """The features of batch rows ``index`` (int64 (B',)); batch-1 features serve any row."""
        if self.s0.shape[0] == 1:
            return self
        return SkipFeatures(s0=self.s0[index], s1=self.s1[index])

    def without_bias(self, upscaling: nn.Sequential) -> tuple[torch.Tensor, torch.Tensor]:
        """The plain skip features (s0, s1), still in block order."""
        return self.s0 - upscaling[3].bias, self.s1 - upscaling[0].bias


def hypernetwork_inputs(mlps: nn.ModuleList, mask_tokens: torch.Tensor, wanted: slice) -> torch.Tensor:
    """Each wanted mask token (B, T, D) through its own hypernetwork MLP -> (B, K, D/8)."""
    indices = range(mask_tokens.shape[1])[wanted]
    return torch.stack([mlps[i](mask_tokens[:, i]) for i in indices], dim=1)


def upscale_and_predict_masks(
    image_tokens: torch.Tensor,
    grid: tuple[int, int],
    upscaling: nn.Sequential,
    hyper_in: torch.Tensor,
    skips: SkipFeatures | None = None,
) -> torch.Tensor:
    """image_tokens (B, h·w, D) in raster order of the (h, w) grid, ``upscaling`` the official
    ``output_upscaling`` (ConvT, LayerNorm2d, act, ConvT, act), hyper_in (B, K, D/8)
    -> mask logits (B, K, 4h, 4w)."""
    up1, norm, act1, up2, act2 = upscaling
    if not isinstance(norm, LayerNorm2d):
        raise TypeError(f"expected LayerNorm2d in output_upscaling, got {type(norm).__name__}")
    x = conv_transpose_2x2(image_tokens, up1, skips.s1 if skips is not None else None)
    x = act1(F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, norm.eps))
    x = act2(conv_transpose_2x2(x, up2, skips.s0 if skips is not None else None))
    masks = hyper_in @ x.transpose(1, 2)  # (B, K, 16·h·w), pixels in block order
    return rows_to_raster(masks, grid, 2)


def rows_passing(iou: torch.Tensor, min_iou: float | None) -> torch.Tensor | None:
    """bool (B,): the batch rows with some predicted IoU (B, K) above ``min_iou``; None (every
    row) when there is no minimum."""
    if min_iou is None:
        return None
    return (iou > min_iou).any(dim=1)


def upscale_rows(
    image_tokens: torch.Tensor,
    grid: tuple[int, int],
    upscaling: nn.Sequential,
    hyper_in: torch.Tensor,
    skips: SkipFeatures | None,
    rows: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`upscale_and_predict_masks` for the batch rows where ``rows`` (bool (B,)) is true
    only; the masks of the other rows are not computed and are NaN. ``rows`` None: every row.

    Segment everything drops every candidate whose predicted IoU is at most its threshold, and
    the IoU head reads only the transformer's tokens, so a prompt none of whose candidates
    passes needs no upscaling head (about half the decoder's work per prompt)."""
    if rows is None or bool(rows.all()):
        return upscale_and_predict_masks(image_tokens, grid, upscaling, hyper_in, skips)
    b, k = hyper_in.shape[:2]
    out = hyper_in.new_full((b, k, 4 * grid[0], 4 * grid[1]), float("nan"))
    index = rows.nonzero().squeeze(1)
    if len(index):
        some = skips.rows(index) if skips is not None else None
        out[index] = upscale_and_predict_masks(image_tokens[index], grid, upscaling, hyper_in[index], some)
    return out
