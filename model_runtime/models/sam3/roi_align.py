"""RoIAlign in plain PyTorch: torchvision's ``roi_align`` maths without torchvision.

SAM 3's exemplar encoder pools each exemplar box from the 72² feature map with
``torchvision.ops.roi_align(features, boxes, 7)`` (``spatial_scale=1``, ``sampling_ratio=-1``:
adaptive, ``aligned=False``). Product code must not need torchvision, so this is the same
computation written out:

- a box (x0, y0, x1, y1) in feature-map cells is split into ``out × out`` bins; unless
  ``aligned``, its width and height are first raised to at least one cell;
- each bin averages ``grid_h × grid_w`` bilinear samples at regularly spaced points, where
  ``grid = ceil(box size / out)`` when ``sampling_ratio <= 0`` (adaptive, per box);
- a sample more than one cell outside the map contributes 0; otherwise its coordinates are
  clamped to the map (torchvision's C++ kernel rule).

Bilinear sampling is separable, so each box's pooling is ``R_y · F · R_xᵀ`` with small
(out, H) and (out, W) weight matrices that add up every sample's two row (column) taps: two small
matrix products instead of gathering ``C × out² × grid²`` values four times. Sample positions are
computed in the input's floating type in the same order of operations as torchvision's pure-PyTorch
reference (``torchvision.ops.roi_align._roi_align``), so results agree to float rounding.
"""

from __future__ import annotations

import torch


def roi_align(
    features: torch.Tensor,
    boxes: list[torch.Tensor],
    output_size: int,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """features: (N, C, H, W); boxes: N tensors (K_i, 4) of x0, y0, x1, y1 in input pixels
    (multiplied by ``spatial_scale`` to get feature cells) -> (ΣK_i, C, out, out), image by image."""
    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, H, W), got {tuple(features.shape)}")
    if len(boxes) != features.shape[0]:
        raise ValueError(f"{len(boxes)} box lists for {features.shape[0]} images")
    pooled = []
    for image, image_boxes in enumerate(boxes):
        if image_boxes.ndim != 2 or image_boxes.shape[-1] != 4:
            raise ValueError(f"boxes must be (K, 4), got {tuple(image_boxes.shape)}")
        for box in image_boxes.to(features.dtype):
            pooled.append(
                _pool_one(features[image], box, output_size, spatial_scale, sampling_ratio, aligned)
            )
    if not pooled:
        return features.new_zeros((0, features.shape[1], output_size, output_size))
    return torch.stack(pooled)


def _pool_one(
    feature: torch.Tensor,
    box: torch.Tensor,
    out: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """feature (C, H, W), box (4,) -> (C, out, out)."""
    _, height, width = feature.shape
    offset = 0.5 if aligned else 0.0
    x0, y0, x1, y1 = (box * spatial_scale - offset).unbind()
    rows, count_h = _axis_weights(y0, y1, out, height, sampling_ratio, aligned)
    cols, count_w = _axis_weights(x0, x1, out, width, sampling_ratio, aligned)
    count = max(count_h * count_w, 1)
    pooled = torch.matmul(torch.matmul(rows, feature), cols.transpose(0, 1))  # (C, out, out)
    return pooled / count


def _axis_weights(
    start: torch.Tensor, end: torch.Tensor, out: int, size: int, sampling_ratio: int, aligned: bool
) -> tuple[torch.Tensor, int]:
    """The (out, size) matrix summing each bin's samples' two interpolation taps along one axis,
    and the number of samples per bin along it."""
    dtype, device = start.dtype, start.device
    length = end - start
    if not aligned:
        length = torch.clamp(length, min=1.0)
    bin_size = length / out
    grid = sampling_ratio if sampling_ratio > 0 else int(torch.ceil(length / out))
    if grid <= 0:
        return torch.zeros((out, size), dtype=dtype, device=device), 0
    bins = torch.arange(out, dtype=dtype, device=device)[:, None]
    steps = torch.arange(grid, dtype=dtype, device=device)[None, :] + 0.5
    # Same association as torchvision: start + p * bin + (i + 0.5) * (bin / grid).
    coords = start + bins * bin_size + steps * (bin_size / grid)  # (out, grid)
    inside = (coords >= -1.0) & (coords <= size)
    coords = coords.clamp(min=0)
    low = coords.to(torch.int64)
    at_edge = low >= size - 1
    high = torch.where(at_edge, size - 1, low + 1)
    low = torch.where(at_edge, size - 1, low)
    coords = torch.where(at_edge, low.to(dtype), coords)
    frac = coords - low
    keep = inside.to(dtype)
    weights = torch.zeros((out, size), dtype=dtype, device=device)
    weights.scatter_add_(1, low, (1.0 - frac) * keep)
    weights.scatter_add_(1, high, frac * keep)
    return weights, grid
