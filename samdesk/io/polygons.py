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
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from samdesk.document.masks import Rle
from samdesk.io.runs import decode_crop

# Default simplification: the coarsest of these tolerances (pixels) whose polygons still reach
# TARGET_IOU against the mask. A digitised straight edge is a staircase deviating up to ~1 px, so
# 1.0 turns it into two vertices; on typical shapes 1.0 already gives IoU >= 0.988 (a circle of
# radius 40 px: 18 vertices), the finer steps serve tiny or spiky objects. Measured in
# tests/test_io_polygons.py.
AUTO_TOLERANCES = (1.0, 0.5, 0.25, 0.0)
TARGET_IOU = 0.98
DEFAULT_TOLERANCE: float | None = None  # None = automatic, as above
# Background pixels kept around an object's box so cropped rasterisation equals full-image rasterisation.
CROP_MARGIN = 2

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
    y0, y1 = max(int(ys[0]) - CROP_MARGIN, 0), min(int(ys[-1]) + 1 + CROP_MARGIN, height)
    x0, x1 = max(int(xs[0]) - CROP_MARGIN, 0), min(int(xs[-1]) + 1 + CROP_MARGIN, width)
    return crop_to_polygons(mask[y0:y1, x0:x1], x0, y0, tolerance)


def rle_to_polygons(rle: Rle, tolerance: float | None = DEFAULT_TOLERANCE) -> PolygonResult:
    """Like :func:`mask_to_polygons` for an RLE, decoding only the object's bounding box."""
    crop, x0, y0 = decode_crop(rle, CROP_MARGIN)
    if not crop.any():
        return PolygonResult([], False, 1.0)
    return crop_to_polygons(crop, x0, y0, tolerance)


def crop_to_polygons(crop: np.ndarray, x0: int, y0: int, tolerance: float | None) -> PolygonResult:
    """bool (h, w) crop of a mask whose top-left pixel is (x0, y0) in the image -> polygons.

    The crop needs :data:`CROP_MARGIN` background pixels around the object (except at image
    borders) for its rasterisation to equal the full image's.
    """
    crop = np.ascontiguousarray(crop, dtype=np.uint8)
    contours, hierarchy = cv2.findContours(crop, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    # RETR_CCOMP: two levels; a contour with a parent (hierarchy[..., 3] >= 0) is a hole.
    has_holes = bool((hierarchy[0, :, 3] >= 0).any())
    # pycocotools puts pixel (x, y) on the square [x, x+1] x [y, y+1], so its centre is at +0.5;
    # the grown outline then runs along integer coordinates, in the middle of pycocotools' 1/5-pixel
    # rounding bins, so rounding the coordinates (YOLO normalises them) flips no pixel.
    sources = [
        _outline_source(c[:, 0, :].astype(np.float64) + 0.5)
        for c, links in zip(contours, hierarchy[0], strict=True)
        if links[3] < 0
    ]
    crop_mask = crop.astype(bool)
    for step in AUTO_TOLERANCES if tolerance is None else (tolerance,):
        polygons = _outlines(sources, step)
        iou = polygon_iou(polygons, crop_mask)
        if iou >= TARGET_IOU:
            break
    shifted = [[v + (x0 if i % 2 == 0 else y0) for i, v in enumerate(p)] for p in polygons]
    return PolygonResult(shifted, has_holes, iou)


def _outline_source(points: np.ndarray) -> tuple[bool, shapely.Geometry]:
    """Pixel-centre contour (N, 2) -> (grow_after_simplify, geometry), built once per contour.

    A valid contour polygon is simplified first and grown by half a pixel after: that keeps
    straight edges straight (simplifying the grown pixel staircase would keep every step of a
    slanted edge). One-pixel-wide limbs make the contour run back on itself (an invalid polygon,
    or a line or a point); then the region is the enclosed area plus the contour line grown by
    half a pixel, built once and simplified per tolerance.
    """
    polygon = Polygon(points) if len(points) >= 4 else None
    if polygon is not None and polygon.is_valid:
        return True, polygon
    line = LineString(points) if len(points) >= 2 else Point(points[0])
    region = line.buffer(0.5, cap_style="square", join_style="mitre")
    if polygon is not None:
        region = region.union(_make_valid(polygon).buffer(0.5, cap_style="square", join_style="mitre"))
    return False, region


def _make_valid(polygon: Polygon) -> shapely.Geometry:
    """The area a self-touching contour encloses. GEOS' "structure" method is ~15x faster than the
    default "linework" on pixel contours (same area); it needs shapely >= 2.1 and GEOS >= 3.10."""
    try:
        return shapely.make_valid(polygon, method="structure", keep_collapsed=False)
    except (TypeError, ValueError, shapely.errors.GEOSException, shapely.errors.UnsupportedGEOSVersionError):
        return shapely.make_valid(polygon)


def _outlines(sources: list[tuple[bool, shapely.Geometry]], tolerance: float) -> list[Polygon2D]:
    polygons = []
    for grow, geometry in sources:
        if grow:
            # Plain Douglas-Peucker (several times faster than the topology-preserving variant);
            # a rare self-crossing result is repaired by the buffer, and the IoU check catches any loss.
            simple = geometry.simplify(tolerance, preserve_topology=False)
            outline = simple.buffer(0.5, cap_style="square", join_style="mitre", mitre_limit=2.0)
        else:
            outline = geometry.simplify(tolerance, preserve_topology=True)
        for part in _parts(outline):
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


def _parts(geometry: shapely.Geometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, MultiPolygon):
        return [g for g in geometry.geoms if not g.is_empty]
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]
