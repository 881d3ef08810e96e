"""The block-order upscaling head against the plain NCHW computation of the official decoders."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model_runtime.models.common.layers import LayerNorm2d
from model_runtime.models.common.upscaling_head import (
    SkipFeatures,
    from_block_order,
    rows_to_raster,
    to_block_order,
    upscale_and_predict_masks,
    upscale_rows,
)


def _upscaling(dim: int) -> nn.Sequential:
    torch.manual_seed(0)
    seq = nn.Sequential(
        nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
        LayerNorm2d(dim // 4),
        nn.GELU(),
        nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
        nn.GELU(),
    )
    with torch.no_grad():
        seq[1].weight.normal_(1.0, 0.2)
        seq[1].bias.normal_(0.0, 0.2)
    return seq.eval()


@pytest.mark.parametrize("grid,levels", [((3, 5), 1), ((4, 6), 2), ((64, 64), 2)])
def test_rows_to_raster_is_the_inverse_block_order_permutation(grid: tuple[int, int], levels: int) -> None:
    g = torch.Generator().manual_seed(1)
    step = 2**levels
    maps = torch.randn((2, 3, grid[0] * step, grid[1] * step), generator=g)
    blocks = to_block_order(maps, levels)  # (B, H·W, K)
    torch.testing.assert_close(rows_to_raster(blocks.transpose(1, 2).contiguous(), grid, levels), maps)
    torch.testing.assert_close(from_block_order(blocks, grid, levels), maps)


def test_rows_to_raster_refuses_a_grid_of_another_size() -> None:
    with pytest.raises(ValueError, match="grid"):
        rows_to_raster(torch.zeros((1, 1, 64)), (4, 5), 1)


@pytest.mark.parametrize("with_skips", [False, True])
def test_upscale_and_predict_masks_matches_the_nchw_head(with_skips: bool) -> None:
    dim, (h, w) = 32, (4, 6)
    seq = _upscaling(dim)
    g = torch.Generator().manual_seed(2)
    image = torch.randn((2, dim, h, w), generator=g)
    hyper_in = torch.randn((2, 3, dim // 8), generator=g)
    s0 = torch.randn((1, dim // 8, 4 * h, 4 * w), generator=g)
    s1 = torch.randn((1, dim // 4, 2 * h, 2 * w), generator=g)
    with torch.no_grad():
        if with_skips:  # SAM 2: skip features added after each transposed convolution
            up1, norm, act1, up2, act2 = seq
            upscaled = act2(up2(act1(norm(up1(image) + s1))) + s0)
        else:
            upscaled = seq(image)
        expected = (hyper_in @ upscaled.flatten(2)).view(2, 3, 4 * h, 4 * w)
        tokens = image.flatten(2).transpose(1, 2)
        skips = SkipFeatures.from_maps(s0, s1, seq) if with_skips else None
        ours = upscale_and_predict_masks(tokens, (h, w), seq, hyper_in, skips)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("skip_batch", [0, 1, 3])
def test_upscale_rows_computes_only_the_rows_asked_for(skip_batch: int) -> None:
    dim, (h, w) = 32, (4, 6)
    seq = _upscaling(dim)
    g = torch.Generator().manual_seed(3)
    tokens = torch.randn((3, h * w, dim), generator=g)
    hyper_in = torch.randn((3, 2, dim // 8), generator=g)
    skips = None
    if skip_batch:
        s0 = torch.randn((skip_batch, dim // 8, 4 * h, 4 * w), generator=g)
        s1 = torch.randn((skip_batch, dim // 4, 2 * h, 2 * w), generator=g)
        skips = SkipFeatures.from_maps(s0, s1, seq)
    rows = torch.tensor([True, False, True])
    with torch.no_grad():
        every = upscale_and_predict_masks(tokens, (h, w), seq, hyper_in, skips)
        some = upscale_rows(tokens, (h, w), seq, hyper_in, skips, rows)
        assert torch.equal(upscale_rows(tokens, (h, w), seq, hyper_in, skips, None), every)
    assert torch.isnan(some[1]).all()
    torch.testing.assert_close(some[rows], every[rows], atol=1e-5, rtol=1e-5)
