"""The sign-exact mask upsampling equals the official post-processing (F.interpolate, then > 0).

Tolerance: a pixel may differ only where the official float32 logit is within rounding of 0,
|ref| ≤ 1e-5 · max(1, max|low_res|) (both sum the same convex combination of float32 values, in a
different order; the error of each is a few float32 ulps of the largest input). Every case also
counts such pixels and asserts the count is tiny.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_runtime.models.common import mask_upsampling as mu
from model_runtime.models.sam1.transforms import resized_shape

EXACT = float("inf")  # mixed_limit that forces the exact path
FULL = -1.0  # mixed_limit that forces the full-interpolation fall-back


def official(low: torch.Tensor, steps: Sequence[mu.Step]) -> torch.Tensor:
    """The official chain, written out independently of the module under test."""
    x = low.float()
    for step in steps:
        x = F.interpolate(x, step.size, mode="bilinear", align_corners=False)
        if step.keep is not None:
            x = x[..., : step.keep[0], : step.keep[1]]
    return x


def assert_signs_match(
    low: torch.Tensor, plan: mu.Plan, limits: Sequence[float | None] = (None,), max_differ: int = 8
) -> None:
    """upsample_masks(low, plan) with each mixed_limit vs the official chain on (..., 256, 256) low."""
    ref = official(low.reshape(-1, 1, *low.shape[-2:]), plan.steps).reshape(*low.shape[:-2], *plan.out_size)
    ref_masks = (ref > 0).numpy()
    tol = 1e-5 * max(1.0, float(low.abs().max()))
    for limit in limits:
        out = mu.upsample_masks(low, plan, mixed_limit=limit)
        assert out.shape == tuple(ref.shape)
        assert out.dtype == np.bool_ and out.flags.c_contiguous
        differ = out != ref_masks
        near_zero = np.abs(ref.numpy()[differ])
        assert (near_zero <= tol).all(), f"limit {limit}: differs where |ref| = {near_zero.max()} > {tol}"
        assert int(differ.sum()) <= max_differ, limit


def sam2(size: tuple[int, int]) -> mu.Plan:
    return mu.sam2_plan((256, 256), size)


def sam1(size: tuple[int, int]) -> mu.Plan:
    return mu.sam1_plan((256, 256), resized_shape(*size), size)


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    axis = torch.arange(256, dtype=torch.float32)
    return torch.meshgrid(axis, axis, indexing="ij")


@cache  # built once per session; callers never modify it
def ellipses(k: int) -> torch.Tensor:
    """(1, k, 256, 256): scaled signed distances of nested, off-centre ellipses (smooth masks)."""
    y, x = _grid()
    out = []
    for i in range(k):
        ry, rx = 20.0 + 23 * i, 35.0 + 17 * i
        out.append((1 - torch.sqrt(((y - 117.3) / ry) ** 2 + ((x - 141.7) / rx) ** 2)) * ry * 0.7)
    return torch.stack(out)[None]


@cache  # built once per session; callers never modify it
def holes_and_thin_parts() -> torch.Tensor:
    """(1, 4, 256, 256): an annulus, a one-pixel-wide diagonal line, blurred noise, a tiny blob."""
    y, x = _grid()
    r = torch.sqrt((y - 128) ** 2 + (x - 100) ** 2)
    annulus = 6.0 - (r - 50).abs()
    line = 1.5 - 4 * (y - 30 - 0.37 * x).abs()  # ~0.4 low-res pixels wide: thinner than a window
    noise = torch.randn((1, 1, 256, 256), generator=torch.Generator().manual_seed(3))
    kernel = torch.exp(-((torch.arange(-12, 13.0)) ** 2) / 50)
    kernel = kernel / kernel.sum()
    blurred = F.conv2d(noise, kernel.view(1, 1, 1, -1), padding=(0, 12))
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1), padding=(12, 0))[0, 0] * 60
    blob = 0.8 - torch.sqrt((y - 250.5) ** 2 + (x - 3.2) ** 2)  # at the far edge: clamped taps
    return torch.stack([annulus, line, blurred, blob])[None]


# Photo-like, smaller than 256, 1×1, extreme aspect ratios (down- and upsampling per axis).
SMOOTH_SIZES = [(534, 800), (800, 534), (256, 256), (300, 500), (37, 1000), (999, 3), (1, 1)]


@pytest.mark.parametrize("chain", [sam2, sam1])
@pytest.mark.parametrize("size", SMOOTH_SIZES)
def test_smooth_logits_match_official_on_both_paths(chain, size: tuple[int, int]) -> None:  # noqa: ANN001
    plan = chain(size)
    for low in (ellipses(3), holes_and_thin_parts(), ellipses(1)):
        assert_signs_match(low, plan, (None, EXACT, FULL))


@pytest.mark.parametrize("chain", [sam2, sam1])
def test_photo_size(chain) -> None:  # noqa: ANN001
    assert_signs_match(holes_and_thin_parts(), chain((1200, 1800)))


@pytest.mark.parametrize("chain", [sam2, sam1])
def test_smooth_logits_take_the_exact_path(chain) -> None:  # noqa: ANN001
    # Real masks have one border: few straddling windows, well below the fall-back cut-over even
    # with two threads (this project's target machine, where the cut-over is half the 1-thread
    # one). The busier set (blurred noise: many borders) stays below the 1-thread cut-over.
    for size in [(1200, 1800), (3000, 4000)]:
        assert mu.exact_work_fraction(ellipses(3), chain(size)) < mu.MIXED_LIMIT_ONE_THREAD / 4
        assert mu.exact_work_fraction(holes_and_thin_parts(), chain(size)) < mu.MIXED_LIMIT_ONE_THREAD


@pytest.mark.parametrize("chain", [sam2, sam1])
def test_noise_falls_back_and_matches(chain) -> None:  # noqa: ANN001
    low = torch.randn((1, 3, 256, 256), generator=torch.Generator().manual_seed(0)) * 3
    low[0, 1, 100:120, 50:60] = 0.0  # exact zeros must stay False
    for size in [(534, 800), (61, 37)]:
        plan = chain(size)
        assert mu.exact_work_fraction(low, plan) > mu.MIXED_LIMIT_ONE_THREAD
        assert_signs_match(low, plan, (None, EXACT))
    # The fall-back goes mask by mask on one thread, batched on several: both must match.
    threads = torch.get_num_threads()
    try:
        for count in {1, 2}:
            torch.set_num_threads(count)
            assert_signs_match(low, chain((300, 200)), (FULL,))
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("chain", [sam2, sam1])
def test_uniform_signs(chain) -> None:  # noqa: ANN001
    plan = chain((300, 500))
    for value, expected in [(5.0, True), (1e-20, True), (1e-35, True), (0.0, False), (-3.0, False)]:
        low = torch.full((1, 3, 256, 256), value)
        out = mu.upsample_masks(low, plan)
        assert out.shape == (1, 3, 300, 500)
        assert (out == expected).all(), value
    # One-sign windows need no exact evaluation; a below-epsilon positive does (underflow guard).
    assert mu.exact_work_fraction(torch.full((3, 256, 256), 2.0), plan) == 0
    assert mu.exact_work_fraction(torch.full((3, 256, 256), -2.0), plan) == 0
    assert mu.exact_work_fraction(torch.full((3, 256, 256), 1e-35), plan) > 0


def test_leading_dims_dtypes_and_empty() -> None:
    plan = sam2((120, 90))
    low = ellipses(3).expand(2, 3, 256, 256) * torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    assert mu.upsample_masks(low, plan).shape == (2, 3, 120, 90)
    assert_signs_match(low, plan)
    # float16, non-contiguous and grad-tracking inputs are read as float32 on the CPU.
    half = ellipses(3).half().transpose(-1, -2).requires_grad_()
    ref = mu.upsample_masks(half.detach().float().contiguous(), plan)
    assert np.array_equal(mu.upsample_masks(half, plan), ref)
    assert mu.upsample_masks(torch.zeros(0, 256, 256), plan).shape == (0, 120, 90)
    assert mu.upsample_masks(ellipses(1)[0, 0], plan).shape == (120, 90)


@pytest.mark.parametrize("chain", [sam2, sam1])
def test_very_large_image(chain) -> None:  # noqa: ANN001
    # 8000×6000: only the bool masks are full size on the exact path (no float32 copy).
    plan = chain((6000, 8000))
    assert_signs_match(ellipses(1), plan)


@pytest.mark.parametrize("size", [(1200, 1800), (37, 61), (2000, 3), (1, 1), (1024, 1024), (5000, 700)])
def test_axis_maps_are_the_chains_linear_maps(size: tuple[int, int]) -> None:
    # Push every low-res basis vector through the official chain: column i of the result is the
    # weight that low-res sample i gets at each output, which the packed windows must reproduce.
    for plan in (sam2(size), sam1(size)):
        for axis, amap in ((0, plan.rows), (1, plan.cols)):
            eye = torch.eye(256).view(256, 1, 256, 1)
            steps = [
                mu.Step((s.size[axis], 1), None if s.keep is None else (s.keep[axis], 1)) for s in plan.steps
            ]
            dense = official(eye, steps)[:, 0, :, 0].T.double().numpy()  # (out, 256)
            packed = np.zeros_like(dense)
            rows = np.arange(amap.start.size)[:, None]
            packed[rows, amap.start[:, None] + np.arange(amap.window)] = amap.weights
            # The official chain rounds its mid-res values to float32; ours compose in float64.
            np.testing.assert_allclose(packed, dense, atol=2e-5)
            assert amap.window <= (2 if len(plan.steps) == 1 else 3)
            assert (np.diff(amap.start) >= 0).all()
            # Blocks tile each run exactly.
            assert amap.block_len.sum() == amap.start.size and (amap.block_len <= amap.block).all()
            assert math.isclose(float(dense.sum(1).min()), 1.0, abs_tol=1e-5)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="plan expects"):
        mu.upsample_masks(torch.zeros(1, 3, 128, 128), sam2((10, 10)))
    with pytest.raises(ValueError, match="positive"):
        mu.sam2_plan((256, 256), (0, 10))
    with pytest.raises(ValueError, match="larger"):
        mu.make_plan((256, 256), [mu.Step((100, 100), keep=(120, 50)), mu.Step((10, 10))])
    with pytest.raises(ValueError, match="step"):
        mu.make_plan((256, 256), [])
