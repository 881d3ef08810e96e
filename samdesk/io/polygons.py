"""Masks to polygons and back, as COCO and YOLO store them.

Contours come from OpenCV at pixel centres; each is simplified with shapely at ``tolerance``
pixels, then grown by half a pixel with mitred corners so the polygon follows the pixels' outer
edges (that is how pycocotools rasterises polygons back). Every exported part is a separate polygon; holes
cannot be expressed (COCO and YOLO take the union of an object's polygons), so they are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from pycocotools import mask as mask_utils
from shapely.geometry import MultiPolygon, Polygon

# Pixels of simplification. Measured on 1080p shapes (tests/test_io_polygons.py): IoU >= 0.985
# down to a circle of radius 40 px (0.75 gives 0.977 there), and straight edges stay 2 vertices.
DEFAULT_TOLERANCE = 0.5

Polygon2D = list[float]  # flat [x0, y0, x1, y1, ...] in pixels


@dataclass
class PolygonResult:
    polygons: list[Polygon2D]
    has_holes: bool
    iou: float  # of the rasterised polygons against the mask; 1.0 for an empty mask


def mask_to_polygons(mask: np.ndarray, tolerance: float = DEFAULT_TOLERANCE) -> PolygonResult:
    """bool (H, W) mask -> one polygon per connected part, in image pixel coordinates.

    Work happens in the mask's bounding box so the cost follows the object, not the image.
    """
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if ys.size == 0:
        return PolygonResult([], False, 1.0)
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    # RETR_CCOMP: two levels; a contour with a parent (hierarchy[..., 3] >= 0) is a hole.
    has_holes = hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())
    polygons: list[Polygon2D] = []
    for contour, links in zip(contours, hierarchy[0], strict=True):
        if links[3] >= 0:
            continue
        outline = _pixel_outline(contour[:, 0, :].astype(np.float64), tolerance)
        for part in _parts(outline):
            coords = np.asarray(part.exterior.coords)[:-1]
            if len(coords) < 3:
                continue
            coords = coords + (x0, y0)
            polygons.append([round(float(v), 2) for v in coords.ravel()])
    crop_polys = [_shift(p, -x0, -y0) for p in polygons]
    iou = polygon_iou(crop_polys, crop.astype(bool))
    return PolygonResult(polygons, has_holes, iou)


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


def _shift(polygon: Polygon2D, dx: float, dy: float) -> Polygon2D:
    return [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(polygon)]
