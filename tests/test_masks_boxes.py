"""Masks of small objects on large images, handled through their bounding box only: the same
RLE strings as the full-size conversion, on random masks of random sizes."""

from __future__ import annotations

import numpy as np

from samdesk.document import masks
from samdesk.session import mask_ops


def random_masks(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        height, width = (int(v) for v in rng.integers(1, 60, 2))
        mask = np.zeros((height, width), bool)
        if rng.random() < 0.9:
            y0, x0 = rng.integers(0, height), rng.integers(0, width)
            y1, x1 = rng.integers(y0, height + 1), rng.integers(x0, width + 1)
            mask[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < rng.random()
        yield rng, mask


def test_encode_box_gives_the_same_string_as_encoding_the_whole_mask() -> None:
    for rng, mask in random_masks(300, seed=1):
        height, width = mask.shape
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        mask[:y0] = False
        mask[:, :x0] = False
        crop = mask[y0:, x0:]
        assert masks.encode_box(crop, (x0, y0), (height, width)) == masks.encode(mask)


def test_a_bound_found_near_a_hint_is_the_exact_bound() -> None:
    rng = np.random.default_rng(2)
    for _, mask in random_masks(300, seed=3):
        hint = rng.uniform(-10, 70, 4)  # right, wrong, inverted or outside: never changes the answer
        assert mask_ops.bounding_box_near(mask, hint) == mask_ops.bounding_box(mask)
