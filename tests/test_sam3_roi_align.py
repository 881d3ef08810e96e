"""Our pure-PyTorch RoIAlign against torchvision's (SAM 3's exemplar pooling).

torchvision's C++ ops do not load next to the CPU torch build here (tests/oracles), so the
reference is torchvision's own pure-PyTorch ``_roi_align`` — the function ``roi_align`` falls back
to without its C++ library — called uncompiled. Its rule for samples far outside the map differs
from the C++ kernel's (it has none), so that case is checked against a literal transcription of
the C++ kernel's loop.
"""

from __future__ import annotations

import math

import pytest
import torch

from model_runtime.models.sam3.roi_align import roi_align

pytestmark = pytest.mark.oracle


def _torchvision_reference():
    import importlib

    import tests.oracles  # noqa: F401  (torchvision import shim)

    module = importlib.import_module("torchvision.ops.roi_align")
    return getattr(module._roi_align, "__wrapped__", module._roi_align)


def _cpp_kernel(features: torch.Tensor, box: list[float], out: int, aligned: bool) -> torch.Tensor:
    """torchvision's roi_align_kernel.cpp for one box on image 0, sampling_ratio = -1, scale 1."""
    _, channels, height, width = features.shape
    offset = 0.5 if aligned else 0.0
    x0, y0, x1, y1 = (v - offset for v in box)
    roi_w, roi_h = x1 - x0, y1 - y0
    if not aligned:
        roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
    bin_h, bin_w = roi_h / out, roi_w / out
    grid_h, grid_w = math.ceil(roi_h / out), math.ceil(roi_w / out)
    count = max(grid_h * grid_w, 1)
    result = torch.zeros(channels, out, out, dtype=torch.float64)
    fmap = features[0].double()
    for ph in range(out):
        for pw in range(out):
            for iy in range(grid_h):
                y = y0 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                for ix in range(grid_w):
                    x = x0 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                    if y < -1.0 or y > height or x < -1.0 or x > width:
                        continue
                    y, x = max(y, 0.0), max(x, 0.0)
                    y_low, x_low = int(y), int(x)
                    if y_low >= height - 1:
                        y_high = y_low = height - 1
                        y = float(y_low)
                    else:
                        y_high = y_low + 1
                    if x_low >= width - 1:
                        x_high = x_low = width - 1
                        x = float(x_low)
                    else:
                        x_high = x_low + 1
                    ly, lx = y - y_low, x - x_low
                    hy, hx = 1 - ly, 1 - lx
                    result[:, ph, pw] += (
                        hy * hx * fmap[:, y_low, x_low]
                        + hy * lx * fmap[:, y_low, x_high]
                        + ly * hx * fmap[:, y_high, x_low]
                        + ly * lx * fmap[:, y_high, x_high]
                    )
    return (result / count).float()


BOXES_INSIDE = [
    [3.2, 5.7, 40.9, 33.1],  # a typical exemplar
    [0.0, 0.0, 72.0, 72.0],  # the whole map: samples reach the last row / column
    [10.0, 10.0, 10.4, 10.2],  # smaller than a cell: raised to one cell
    [-0.8, 60.5, 12.3, 71.9],  # just over the top-left edge (within one cell)
    [30.0, 2.0, 31.0, 70.0],  # tall and thin: different grids per axis
    [7.0, 7.0, 21.0, 21.0],  # size an exact multiple of the output: grid exactly 2
]


@pytest.mark.parametrize("aligned", [False, True])
def test_matches_torchvision_reference(aligned: bool) -> None:
    reference = _torchvision_reference()
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(2, 4, 72, 72, generator=gen)
    boxes = [torch.tensor(BOXES_INSIDE[:3]), torch.tensor(BOXES_INSIDE[3:])]
    ours = roi_align(features, boxes, 7, aligned=aligned)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], dim=1) for i, b in enumerate(boxes)])
    expected = reference(features, rois, 1.0, 7, 7, -1, aligned)
    assert ours.shape == (6, 4, 7, 7)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_the_oracles_trimmed_reference_equals_torchvisions_fallback() -> None:
    """tests/oracles/sam3_detector.roi_align_reference (what the official detector runs with in
    these tests) gives torchvision's fallback values with less work."""
    from tests.oracles.sam3_detector import roi_align_reference

    gen = torch.Generator().manual_seed(3)
    features = torch.randn(2, 8, 40, 40, generator=gen)
    rois = torch.tensor([[0, 3.2, 5.7, 30.9, 33.1], [1, 0.0, 0.0, 40.0, 40.0], [1, 10.0, 10.0, 10.4, 10.2]])
    for aligned in (False, True):
        for sampling in (-1, 2):
            expected = _torchvision_reference()(features, rois, 1.0, 7, 7, sampling, aligned)
            torch.testing.assert_close(
                roi_align_reference(features, rois, 1.0, 7, 7, sampling, aligned), expected, rtol=0, atol=1e-6
            )


def test_matches_reference_on_a_non_square_map_with_scale() -> None:
    reference = _torchvision_reference()
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(1, 8, 30, 50, generator=gen)
    boxes = torch.tensor([[12.0, 4.0, 180.0, 100.0], [0.0, 0.0, 199.0, 119.0]])
    ours = roi_align(features, [boxes], 5, spatial_scale=0.25)
    rois = torch.cat([torch.zeros(2, 1), boxes], dim=1)
    torch.testing.assert_close(ours, reference(features, rois, 0.25, 5, 5, -1, False), rtol=1e-5, atol=1e-5)


def test_samples_far_outside_the_map_count_as_zero_like_the_cpp_kernel() -> None:
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(1, 4, 12, 12, generator=gen)
    box = [-6.0, 3.0, 8.0, 20.0]  # reaches 6 cells left of and 8 cells below the map
    ours = roi_align(features, [torch.tensor([box])], 7)[0]
    torch.testing.assert_close(ours, _cpp_kernel(features, box, 7, aligned=False), rtol=1e-5, atol=1e-6)
    # Inside the map both references agree with ours too.
    inside = [1.5, 2.0, 10.0, 11.5]
    ours_inside = roi_align(features, [torch.tensor([inside])], 7)[0]
    torch.testing.assert_close(
        ours_inside, _cpp_kernel(features, inside, 7, aligned=False), rtol=1e-5, atol=1e-6
    )


def test_no_boxes_and_bad_shapes() -> None:
    features = torch.zeros(1, 3, 8, 8)
    assert roi_align(features, [torch.zeros(0, 4)], 7).shape == (0, 3, 7, 7)
    with pytest.raises(ValueError, match="box lists"):
        roi_align(features, [], 7)
    with pytest.raises(ValueError, match=r"\(K, 4\)"):
        roi_align(features, [torch.zeros(2, 5)], 7)
