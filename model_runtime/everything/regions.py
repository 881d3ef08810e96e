"""Masks kept small: each found mask stored cropped to its box, and small regions removed.

Segment everything keeps tens to hundreds of masks of one image; at full size each is H×W bytes
(2 MB at 1800×1200). A :class:`BoxedMask` keeps only the box's pixels and pastes them back on
demand. :func:`remove_small_regions` is the official ``min_mask_region_area`` step (fill holes,
then drop islands, below an area in pixels; OpenCV 8-connected components), computed on the box
on the full image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BoxedMask:
    """A bool mask of an (H, W) image stored as the pixels of its inclusive box (x0, y0, x1, y1)."""

    image_size: tuple[int, int]
    box: tuple[int, int, int, int]
    pixels: np.ndarray  # bool (y1 - y0 + 1, x1 - x0 + 1); empty (0, 0) for an empty mask

    @classmethod
    def of(cls, mask: np.ndarray, box: np.ndarray, offset: tuple[int, int] = (0, 0),
           image_size: tuple[int, int] | None = None) -> BoxedMask:
        """``mask`` bool (h, w) with its inclusive ``box`` in mask coordinates; ``offset`` (x, y)
        moves it into an image of ``image_size`` (H, W) (default: the mask's own size)."""
        x0, y0, x1, y1 = (int(v) for v in box)
        size = image_size or mask.shape
        if not mask[y0:y1 + 1, x0:x1 + 1].any():
            return cls((int(size[0]), int(size[1])), (0, 0, 0, 0), np.zeros((0, 0), dtype=np.bool_))
        dx, dy = offset
        pixels = np.ascontiguousarray(mask[y0:y1 + 1, x0:x1 + 1])
        return cls((int(size[0]), int(size[1])), (x0 + dx, y0 + dy, x1 + dx, y1 + dy), pixels)

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.pixels))

    def full(self) -> np.ndarray:
        """bool (H, W)."""
        mask = np.zeros(self.image_size, dtype=np.bool_)
        if self.pixels.size:
            x0, y0, x1, y1 = self.box
            mask[y0:y1 + 1, x0:x1 + 1] = self.pixels
        return mask


def remove_small_regions(mask: BoxedMask, min_area: float) -> tuple[BoxedMask, bool]:
    """Fill holes smaller than ``min_area``, then drop islands smaller than it (keeping the
    largest island if all are small). Returns the new mask and whether anything changed.

    Computed on the full image: a background region touching the box can be a hole or part of
    the image's background depending on what lies outside the box.
    """
    if not mask.pixels.size:
        return mask, False
    full = mask.full()
    filled, holes_changed = _fill_small(full, min_area, holes=True)
    kept, islands_changed = _fill_small(filled, min_area, holes=False)
    if not (holes_changed or islands_changed):
        return mask, False
    return BoxedMask.of(kept, _inclusive_box(kept)), True


def _inclusive_box(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return np.zeros(4, dtype=np.int64)
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.int64)


def _fill_small(mask: np.ndarray, min_area: float, holes: bool) -> tuple[np.ndarray, bool]:
    """The official ``remove_small_regions`` for one mode ("holes" or "islands")."""
    working = (mask ^ holes).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(working, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    small = [i + 1 for i, size in enumerate(sizes) if size < min_area]
    if not small:
        return mask, False
    if holes:
        return mask | np.isin(labels, small), True
    small_set = set(small)
    keep = [i for i in range(1, count) if i not in small_set]
    if not keep:
        keep = [int(np.argmax(sizes)) + 1]
    return np.isin(labels, keep), True
