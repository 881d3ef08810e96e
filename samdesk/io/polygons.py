"""Masks to polygons and back, as COCO and YOLO store them.

Contours come from OpenCV at pixel centres; each is simplified with shapely at a tolerance in
pixels (by default the coarsest that keeps the polygon-vs-mask IoU at 0.98), then grown by half
a pixel with mitred corners so the polygon follows the pixels' outer edges (that is how
pycocotools rasterises polygons back). Every exported part is a separate polygon; holes
cannot be expressed (COCO and YOLO take the union of an object's polygons), so they are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon

# Default simplification: the coarsest of these tolerances (pixels) whose polygons still reach
# TARGET_IOU against the mask. A digitised straight edge is a staircase deviating up to ~1 px, so
# 1.0 turns it into two vertices; on typical shapes 1.0 already gives IoU >= 0.988 (a circle of
# radius 40 px: 18 vertices), the finer steps serve tiny or spiky objects. Measured in
# tests/test_io_polygons.py.
AUTO_TOLERANCES = (1.0, 0.5, 0.25, 0.0)
TARGET_IOU = 0.98
DEFAULT_TOLERANCE: float | None = None  # None = automatic, as above

Polygon2D = list[float]  # flat [x0, y0, x1, y1, ...] in pixels


@dataclass
class PolygonResult:
    polygons: list[Polygon2D]
    has_holes: bool
    iou: float  # of the rasterised polygons against the mask; 1.0 for an empty mask


def mask_to_polygons(mask: np.ndarray, tolerance: float | None = DEFAULT_TOLERANCE) -> PolygonResult:
    """bool (H, W) mask -> one polygon per connected part, in image pixel coordinates.

    ``tolerance`` in pixels, or ``None`` for the coarsest of :data:`AUTO_TOLERANCES` that reaches
    :data:`TARGET_IOU` (the finest one otherwise). Work happens in the mask's bounding box (plus a
    margin, so rasterising there matches rasterising in the full image), so the cost follows the
    object, not the image.
    """
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if ys.size == 0:
        return PolygonResult([], False, 1.0)
    height, width = mask.shape
    y0, y1 = max(int(ys[0]) - 2, 0), min(int(ys[-1]) + 3, height)
    x0, x1 = max(int(xs[0]) - 2, 0), min(int(xs[-1]) + 3, width)
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    # RETR_CCOMP: two levels; a contour with a parent (hierarchy[..., 3] >= 0) is a hole.
    has_holes = bool((hierarchy[0, :, 3] >= 0).any())
    # pycocotools puts pixel (x, y) on the square [x, x+1] x [y, y+1], so its centre is at +0.5;
    # the grown outline then runs along integer coordinates, in the middle of pycocotools' 1/5-pixel
    # rounding bins, so rounding the coordinates (YOLO normalises them) flips no pixel.
    outer = [
        c[:, 0, :].astype(np.float64) + 0.5
        for c, links in zip(contours, hierarchy[0], strict=True)
        if links[3] < 0
    ]
    crop_mask = crop.astype(bool)
    for step in AUTO_TOLERANCES if tolerance is None else (tolerance,):
        polygons = _outlines(outer, step)
        iou = polygon_iou(polygons, crop_mask)
        if iou >= TARGET_IOU:
            break
    shifted = [[v + (x0 if i % 2 == 0 else y0) for i, v in enumerate(p)] for p in polygons]
    return PolygonResult(shifted, has_holes, iou)


def _outlines(contours: list[np.ndarray], tolerance: float) -> list[Polygon2D]:
    polygons = []
    for contour in contours:
        for part in _parts(_pixel_outline(contour, tolerance)):
            coords = np.asarray(part.exterior.coords)[:-1]
            if len(coords) >= 3:
                polygons.append([round(float(v), 2) for v in coords.ravel()])  # 0.01 px is plenty
    return polygons


def polygons_to_mask(polygons: list[Polygon2D], height: int, width: int) -> np.ndarray:
    """Rasterise polygons the way pycocotools does (their union) -> bool (H, W)."""
    valid = [p for p in polygons if len(p) >= 6]
    if not valid:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(valid, height, width))
    return np.ascontiguousarray(mask_utils.decode(rle).astype(bool))


def polygon_iou(polygons: list[Polygon2D], mask: np.ndarray) -> float:
    """IoU of the rasterised ``polygons`` against bool (H, W) ``mask``."""
    drawn = polygons_to_mask(polygons, *mask.shape)
    union = int(np.count_nonzero(drawn | mask))
    return 1.0 if union == 0 else int(np.count_nonzero(drawn & mask)) / union


def _pixel_outline(points: np.ndarray, tolerance: float) -> shapely.Geometry:
    """Pixel-centre contour (N, 2) -> the region covered by those pixels' squares."""
    polygon = Polygon(points) if len(points) >= 4 else None
    if polygon is not None and polygon.is_valid:
        # Simplifying the centre line first, then growing it, keeps straight edges straight:
        # simplifying the grown pixel staircase keeps every step of a slanted edge.
        simple = polygon.simplify(tolerance, preserve_topology=True)
        return simple.buffer(0.5, cap_style="square", join_style="mitre", mitre_limit=2.0)
    # One-pixel-wide limbs make the contour run back on itself (an invalid polygon, or a line or
    # a point); growing it by half a pixel would miss the corners of diagonal steps, so the
    # boundary pixels' own squares are added to whatever area the contour does enclose.
    squares = shapely.box(points[:, 0] - 0.5, points[:, 1] - 0.5, points[:, 0] + 0.5, points[:, 1] + 0.5)
    region = shapely.union_all(squares)
    if polygon is not None:
        region = region.union(shapely.make_valid(polygon).buffer(0.5, cap_style="square", join_style="mitre"))
    return region.simplify(tolerance, preserve_topology=True)


def _parts(geometry: shapely.Geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, MultiPolygon):
        return [g for g in geometry.geoms if not g.is_empty]
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]
