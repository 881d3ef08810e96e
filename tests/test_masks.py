"""Masks as RLE: decoding only a mask's bounding box gives exactly the full decode's crop."""

from __future__ import annotations

import numpy as np
import pytest

from samdesk.document import masks


def _random_masks(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        kind = index % 4
        if kind == 0:  # noise of any density, often wrapping from one column into the next
            mask = rng.random((height, width)) < rng.choice([0.0, 0.01, 0.3, 0.9, 1.0])
        elif kind == 1:  # one pixel
            mask = np.zeros((height, width), bool)
            mask[rng.integers(height), rng.integers(width)] = True
        else:  # a rectangle, possibly touching the borders
            mask = np.zeros((height, width), bool)
            y0, x0 = rng.integers(height), rng.integers(width)
            mask[y0 : y0 + rng.integers(1, height + 1), x0 : x0 + rng.integers(1, width + 1)] = True
        yield mask


@pytest.mark.parametrize("seed", range(3))
def test_decode_box_is_the_bounding_box_of_decode(seed: int) -> None:
    for mask in _random_masks(1000, seed):
        found = masks.decode_box(masks.encode(mask))
        if not mask.any():
            assert found is None
            continue
        assert found is not None
        crop, (x0, y0) = found
        ys, xs = np.nonzero(mask)
        assert (x0, y0) == (xs.min(), ys.min())
        assert crop.shape == (ys.max() - y0 + 1, xs.max() - x0 + 1)
        assert crop.dtype == bool and crop.flags.c_contiguous
        assert np.array_equal(crop, mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]])


def test_decode_box_of_a_large_image_expands_only_the_box() -> None:
    mask = np.zeros((1200, 1800), bool)
    mask[500:560, 900:980] = True
    mask[530, 1000] = True
    crop, offset = masks.decode_box(masks.encode(mask))
    assert offset == (900, 500) and crop.shape == (60, 101) and crop.sum() == mask.sum()
