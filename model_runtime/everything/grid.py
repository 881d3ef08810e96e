"""Where segment everything prompts: point grids over the image and the crops it looks at again.

The official automatic mask generators (SAM 1 and SAM 2) prompt a regular grid of single points,
once on the whole image and, with ``crop_n_layers`` > 0, again on overlapping crops: layer i cuts
the image into (2^i)² crops and prompts each with a grid ``crop_n_points_downscale_factor``^i times
coarser. These functions reproduce those grids and crops exactly (same floats, same integer
rounding), so the same masks come out.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np

CropBox = tuple[int, int, int, int]  # x0, y0, x1, y1 in original-image pixels (x1, y1 exclusive)


def point_grid(points_per_side: int) -> np.ndarray:
    """float64 (n², 2) x, y in [0, 1]: cell centres of an n × n grid, row by row."""
    offset = 1 / (2 * points_per_side)
    side = np.linspace(offset, 1 - offset, points_per_side)
    xs = np.tile(side[None, :], (points_per_side, 1))
    ys = np.tile(side[:, None], (1, points_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def layer_point_grids(points_per_side: int, crop_n_layers: int, downscale_factor: int) -> list[np.ndarray]:
    """One normalised grid per crop layer (layer 0 is the whole image)."""
    return [point_grid(int(points_per_side / (downscale_factor**i))) for i in range(crop_n_layers + 1)]


def crop_boxes(
    image_size: tuple[int, int], crop_n_layers: int, overlap_ratio: float
) -> list[tuple[CropBox, int]]:
    """(crop box, layer) pairs: the whole image first, then layer i's (2^i)² overlapping crops.

    image_size: (H, W). Crops of a layer are listed column by column (x outer, y inner), as the
    official generators do, which fixes the order of their results.
    """
    height, width = image_size
    boxes: list[tuple[CropBox, int]] = [((0, 0, width, height), 0)]
    short_side = min(height, width)
    for layer in range(crop_n_layers):
        per_side = 2 ** (layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = _crop_length(width, per_side, overlap)
        crop_h = _crop_length(height, per_side, overlap)
        xs = [int((crop_w - overlap) * i) for i in range(per_side)]
        ys = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in product(xs, ys):
            boxes.append(((x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)), layer + 1))
    return boxes


def _crop_length(length: int, crops: int, overlap: int) -> int:
    return int(math.ceil((overlap * (crops - 1) + length) / crops))
