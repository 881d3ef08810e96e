"""Masks to polygons and back, as COCO and YOLO store them.

Contours come from OpenCV at pixel centres; each is simplified with shapely at a tolerance in
pixels (by default the coarsest that keeps the polygon-vs-mask IoU at 0.98), then grown by half
a pixel with mitred corners so the polygon follows the pixels' outer edges (that is how
pycocotools rasterises polygons back). Every exported part is a separate polygon; holes
cannot be expressed (COCO and YOLO take the union of an object's polygons), so they are reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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

# Points of imported polygons may lie up to this many image sizes outside the image and are
# clipped there (annotation tools place points a little past the border); farther out the file
# is broken (pixels where normalised coordinates belong, garbage), so the annotation is skipped.
MAX_OUTSIDE = 1.0
# pycocotools rasterises a polygon by walking its outline in 1/5-pixel steps, with ~16 bytes per
# step, all allocated at once: a single coordinate of 1e7 costs 856 MB and 1e308 or NaN crash it.
# One annotation's outline is therefore capped at 2**21 pixels (~170 MB of rasterising work),
# far beyond any drawn outline, so a crafted file cannot make it allocate without bound.
MAX_OUTLINE_PIXELS = 1 << 21
_PYCOCOTOOLS_SCALE = 5  # its sub-pixel steps per pixel


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


@dataclass(frozen=True)
class CheckedPolygons:
    """Imported polygons after :func:`check_polygons`: ``refused`` says why they must be
    skipped (a warning text ending in "skipped"), else ``polygons`` are safe to rasterise;
    ``clipped``: a point lies more than a pixel outside the image (the mask is cut there)."""

    polygons: list[Polygon2D]
    refused: str | None = None
    clipped: bool = False


def check_polygons(polygons: Sequence[object], height: int, width: int) -> CheckedPolygons:
    """Validate polygons read from a file before anything rasterises them.

    Each must be a list of at least three (x, y) pairs of finite numbers in pixels, within
    :data:`MAX_OUTSIDE` image sizes of the image, with a total outline (as pycocotools walks it)
    under :data:`MAX_OUTLINE_PIXELS`.
    """
    checked: list[Polygon2D] = []
    for polygon in polygons:
        values = _numbers(polygon)
        if values is None or len(values) < 6 or len(values) % 2:
            return CheckedPolygons([], "malformed polygon; skipped")
        if not all(math.isfinite(v) for v in values):
            return CheckedPolygons([], "polygon with a NaN or infinite coordinate; skipped")
        checked.append(values)
    problem = _refusal(checked, height, width)
    if problem is not None:
        return CheckedPolygons([], problem)
    clipped = any(
        min(p[0::2]) < -1 or min(p[1::2]) < -1 or max(p[0::2]) > width + 1 or max(p[1::2]) > height + 1
        for p in checked
    )
    return CheckedPolygons(checked, None, clipped)


def _numbers(polygon: object) -> list[float] | None:
    """``polygon`` as floats, or None if it is not a list of numbers (or holds an integer too
    large for a float: JSON numbers may have any number of digits)."""
    if not isinstance(polygon, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in polygon
    ):
        return None
    try:
        return [float(v) for v in polygon]
    except OverflowError:
        return None


def _refusal(polygons: list[Polygon2D], height: int, width: int) -> str | None:
    """Why finite ``polygons`` must not reach pycocotools, or None when they are safe."""
    outline = 0.0
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
        if not (
            (points[:, 0] >= -MAX_OUTSIDE * width).all()
            and (points[:, 0] <= (1 + MAX_OUTSIDE) * width).all()
            and (points[:, 1] >= -MAX_OUTSIDE * height).all()
            and (points[:, 1] <= (1 + MAX_OUTSIDE) * height).all()
        ):
            return f"polygon more than {MAX_OUTSIDE:g} image size outside its image; skipped"
        closed = np.rint(np.vstack([points, points[:1]]) * _PYCOCOTOOLS_SCALE)
        outline += float((np.abs(np.diff(closed, axis=0)).max(axis=1) + 1).sum()) / _PYCOCOTOOLS_SCALE
    if outline > MAX_OUTLINE_PIXELS:
        return f"polygon outline longer than {MAX_OUTLINE_PIXELS} pixels; skipped"
    return None


def polygons_to_mask(polygons: list[Polygon2D], height: int, width: int) -> np.ndarray:
    """Rasterise polygons the way pycocotools does (their union) -> bool (H, W).

    Raises ValueError for polygons :func:`check_polygons` refuses (pycocotools would crash or
    exhaust memory on them).
    """
    valid = [p for p in polygons if len(p) >= 6]
    if not all(math.isfinite(v) for p in valid for v in p):
        raise ValueError("polygon with a NaN or infinite coordinate")
    problem = _refusal(valid, height, width)
    if problem is not None:
        raise ValueError(problem.removesuffix("; skipped"))
    if not valid:
        return np.zeros((height, width), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(valid, height, width))
    return np.ascontiguousarray(mask_utils.decode(rle).astype(bool))


def polygons_to_rle(polygons: list[Polygon2D], height: int, width: int) -> Rle:
    """:func:`polygons_to_mask` as a compressed RLE, made by pycocotools straight from the
    outlines (no (H, W) image is decoded). Raises ValueError for refused polygons."""
    valid = [p for p in polygons if len(p) >= 6]
    if not all(math.isfinite(v) for p in valid for v in p):
        raise ValueError("polygon with a NaN or infinite coordinate")
    problem = _refusal(valid, height, width)
    if problem is not None:
        raise ValueError(problem.removesuffix("; skipped"))
    if not valid:
        valid = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]  # an empty outline: an empty mask
    rle = mask_utils.merge(mask_utils.frPyObjects(valid, height, width))
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


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
