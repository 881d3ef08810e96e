"""Run-based mask helpers agree with a full decode, including runs that wrap across columns."""

from __future__ import annotations

import numpy as np
import pytest

from samdesk.document import masks
from samdesk.io.common import DatasetError
from samdesk.io.runs import decode_crop, label_rles, paint
from tests.io_fixtures import ring, two_parts


def _cases() -> list[np.ndarray]:
    wrap = np.zeros((30, 40), bool)
    wrap[20:, 5] = True  # bottom of column 5 ...
    wrap[:10, 6] = True  # ... continues at the top of column 6: one run across two columns
    full = np.ones((7, 9), bool)
    corner = np.zeros((50, 60), bool)
    corner[45:, 55:] = True
    return [
        wrap,
        full,
        corner,
        ring(120, 160, (80, 60), 40, 15),
        two_parts(100, 200, (30, 30), (150, 60), 20),
    ]


@pytest.mark.parametrize("mask", _cases())
def test_decode_crop_matches_full_decode(mask: np.ndarray) -> None:
    rle = masks.encode(mask)
    for margin in (0, 2):
        crop, x0, y0 = decode_crop(rle, margin)
        rebuilt = np.zeros_like(mask)
        rebuilt[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        assert np.array_equal(rebuilt, mask)
        ys, xs = np.nonzero(mask)
        assert x0 == max(xs.min() - margin, 0) and y0 == max(ys.min() - margin, 0)
        assert x0 + crop.shape[1] == min(xs.max() + 1 + margin, mask.shape[1])


@pytest.mark.parametrize("mask", _cases())
def test_paint_matches_boolean_indexing_and_counts_overlap(mask: np.ndarray) -> None:
    h, w = mask.shape
    columns = np.zeros((w, h), np.uint16)
    assert paint(columns.reshape(-1), masks.encode(mask), 7) == 0
    assert np.array_equal(columns.T == 7, mask)
    assert paint(columns.reshape(-1), masks.encode(mask), 9) == int(mask.sum())


def test_empty_and_malformed() -> None:
    crop, _, _ = decode_crop(masks.encode(np.zeros((5, 5), bool)))
    assert crop.size == 0
    with pytest.raises(DatasetError, match="malformed RLE"):
        decode_crop({"size": [5, 5], "counts": "\x7f\x7f"})


def test_label_rles_equal_encoding_each_label_mask() -> None:
    rng = np.random.default_rng(3)
    for trial in range(100):
        height, width = (int(v) for v in rng.integers(1, 25, 2))
        labels = rng.integers(0, int(rng.integers(1, 6)), (height, width))
        if trial % 2:  # large blobs: long runs crossing columns
            labels = np.kron(rng.integers(0, 4, (4, 4)), np.ones((7, 7), int))[:height, :width]
        expected = {int(v): masks.encode(labels == v) for v in np.unique(labels) if v > 0}
        assert label_rles(labels) == expected


def test_label_rles_of_a_label_per_pixel() -> None:
    """A 16-bit PNG may hold 65535 labels: one pass, not one comparison per label."""
    labels = np.arange(1, 256 * 256, dtype=np.int32).reshape(-1)
    labels = np.concatenate(([0], labels)).reshape(256, 256)
    rles = label_rles(labels)
    assert len(rles) == 65535
    assert masks.decode(rles[300]).sum() == 1 and masks.decode(rles[300])[1, 44]
