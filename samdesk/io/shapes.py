"""Checking and drawing the shapes annotation tools save: points, boxes, circles, lines, polygons.

Every coordinate read from a file is checked here before anything is drawn or allocated: finite
numbers, at most :data:`~samdesk.io.polygons.MAX_OUTSIDE` image sizes outside the image (a
little outside is clipped, as tools place points past the border). Shapes are drawn the way the
tool that made them draws them (labelme with PIL, see :func:`draw_labelme`), so an import gives
the masks that tool's own converters give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from model_runtime.prompts import Box
from samdesk.io.polygons import MAX_OUTSIDE

# labelme's own rasterising (labelme.utils.shape_to_mask): lines 10 px wide, points as discs of
# radius 5 px.
LABELME_LINE_WIDTH = 10
LABELME_POINT_RADIUS = 5


@dataclass(frozen=True)
class CheckedPoints:
    """``points``: float64 (N, 2) pixel (x, y), or None with ``refused`` (a warning text ending
    in "skipped"); ``clipped``: a point lies more than a pixel outside the image."""

    points: np.ndarray | None
    refused: str | None = None
    clipped: bool = False


def check_points(values: object, height: int, width: int, min_count: int = 1) -> CheckedPoints:
    """``values``: [[x, y], ...] (labelme) or a flat [x0, y0, x1, y1, ...] list of numbers."""
    if not isinstance(values, list) or not values:
        return CheckedPoints(None, "shape without points; skipped")
    flat: list[object] = []
    for value in values:
        if isinstance(value, list):
            if len(value) != 2:
                return CheckedPoints(None, "malformed point (not [x, y]); skipped")
            flat.extend(value)
        else:
            flat.append(value)
    if len(flat) % 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        return CheckedPoints(None, "malformed point (not [x, y]); skipped")
    try:
        points = np.asarray([float(v) for v in flat], np.float64).reshape(-1, 2)  # type: ignore[arg-type]
    except OverflowError:  # an integer of hundreds of digits
        return CheckedPoints(None, "point with a NaN, infinite or huge coordinate; skipped")
    if not np.isfinite(points).all():
        return CheckedPoints(None, "point with a NaN, infinite or huge coordinate; skipped")
    if len(points) < min_count:
        return CheckedPoints(None, f"shape with fewer than {min_count} points; skipped")
    x, y = points[:, 0], points[:, 1]
    if (
        (x < -MAX_OUTSIDE * width).any()
        or (x > (1 + MAX_OUTSIDE) * width).any()
        or (y < -MAX_OUTSIDE * height).any()
        or (y > (1 + MAX_OUTSIDE) * height).any()
    ):
        return CheckedPoints(None, f"shape more than {MAX_OUTSIDE:g} image size outside its image; skipped")
    clipped = bool((x < -1).any() or (y < -1).any() or (x > width + 1).any() or (y > height + 1).any())
    return CheckedPoints(points, None, clipped)


def clip_box(x0: float, y0: float, x1: float, y1: float, height: int, width: int) -> Box | None:
    """The box (corners in any order) clipped to the image, or None when nothing of it is inside."""
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    left, top = max(left, 0.0), max(top, 0.0)
    right, bottom = min(right, float(width)), min(bottom, float(height))
    if right <= left or bottom <= top:
        return None
    return (left, top, right, bottom)


def draw_labelme(shape_type: str, points: np.ndarray, height: int, width: int) -> np.ndarray:
    """bool (H, W) mask of one labelme shape, drawn exactly as ``labelme.utils.shape_to_mask``
    draws it (PIL, outline included): polygon (and any other name), rectangle, circle (centre and
    a point on the rim), line and linestrip (:data:`LABELME_LINE_WIDTH` px wide), point (a disc
    of :data:`LABELME_POINT_RADIUS` px). ``points``: checked float (N, 2), N as the type needs.

    The whole image is drawn, not a crop: PIL's rounding is not shift-invariant, so drawing a
    crop could differ from labelme's by a pixel here and there.
    """
    canvas = Image.new("L", (width, height))
    draw = ImageDraw.Draw(canvas)
    xy = [(float(x), float(y)) for x, y in points]
    if shape_type == "circle":
        (cx, cy), (px, py) = xy[:2]
        d = math.hypot(cx - px, cy - py)
        draw.ellipse([cx - d, cy - d, cx + d, cy + d], outline=1, fill=1)
    elif shape_type == "rectangle":
        (ax, ay), (bx, by) = xy[:2]
        draw.rectangle([min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)], outline=1, fill=1)
    elif shape_type in ("line", "linestrip"):
        draw.line(xy=xy, fill=1, width=LABELME_LINE_WIDTH)
    elif shape_type == "point":
        cx, cy = xy[0]
        r = LABELME_POINT_RADIUS
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=1, fill=1)
    else:
        draw.polygon(xy=xy, outline=1, fill=1)
    return np.asarray(canvas, dtype=bool)
