"""Boxes and polygons as annotations in their own right, beside masks.

An object's frame is one of three kinds (:func:`kind`):

* ``"mask"``: pixels (``FrameAnnotation.rle``), what a model or a brush makes;
* ``"polygon"``: vertices (``FrameAnnotation.polygon``) whose rasterisation is the mask, as
  pycocotools draws a COCO polygon (the reference reader of polygon datasets), so every view and
  every mask export sees the polygon's pixels, and polygon formats write the vertices;
* ``"box"``: a box-only frame (``boxes.py``: an empty mask and the box as its prompt), exported
  as a box by the formats that hold boxes.

Moving a vertex or a box corner makes a new frame of the same kind (:func:`moved`), and so do
adding a vertex on an edge (:func:`with_vertex`) and removing one (:func:`without_vertex`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pycocotools import mask as mask_utils

from samdesk.document.boxes import box_only_frame, is_box_only
from samdesk.document.masks import Rle
from samdesk.document.model import FrameAnnotation, Provenance

Kind = Literal["mask", "polygon", "box"]
Point = tuple[float, float]
MAX_VERTICES = 100_000  # of one polygon; more is not a drawn or imported outline


def kind(frame: FrameAnnotation) -> Kind:
    if frame.polygon is not None:
        return "polygon"
    return "box" if is_box_only(frame) else "mask"


def polygon_problem(points: object, height: int | None = None, width: int | None = None) -> str | None:
    """Why ``points`` cannot be a polygon annotation (on a ``height`` x ``width`` image), or None."""
    if not isinstance(points, Sequence) or not 3 <= len(points) <= MAX_VERTICES:
        return f"a polygon needs 3 to {MAX_VERTICES} vertices"
    for point in points:
        if not (
            isinstance(point, Sequence)
            and len(point) == 2
            and all(_finite_number(v) for v in point)
        ):
            return "every vertex must be two finite numbers [x, y]"
        if height is not None and width is not None:
            x, y = point
            if not (-width <= x <= 2 * width and -height <= y <= 2 * height):
                return f"vertex ({x}, {y}) lies far outside the {width}x{height} image"
    return None


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def polygon_rle(points: Sequence[Point], height: int, width: int) -> Rle:
    """The pixels of a closed polygon, as pycocotools rasterises a COCO polygon."""
    problem = polygon_problem(points, height, width)
    if problem is not None:
        raise ValueError(problem)
    flat = [float(v) for point in points for v in point]
    rle = mask_utils.frPyObjects([flat], height, width)[0]
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def polygon_frame(
    points: Sequence[Point], height: int, width: int, provenance: Provenance = Provenance.MANUAL
) -> FrameAnnotation:
    """A polygon annotation: the vertices and their pixels."""
    vertices = tuple((float(x), float(y)) for x, y in points)
    return FrameAnnotation(polygon_rle(vertices, height, width), provenance, polygon=vertices)


def box_frame(
    box: tuple[float, float, float, float],
    height: int,
    width: int,
    provenance: Provenance = Provenance.MANUAL,
) -> FrameAnnotation:
    """A box annotation (x0, y0, x1, y1, any corner order), clipped to the image."""
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    clipped = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise ValueError(f"box {box} has no area inside the {width}x{height} image")
    return box_only_frame(clipped, height, width, provenance)


def handles(frame: FrameAnnotation) -> list[Point]:
    """The points a user can drag: a polygon's vertices, a box's four corners (x0y0, x1y0,
    x1y1, x0y1); none for a mask."""
    shape = kind(frame)
    if shape == "polygon":
        return list(frame.polygon or ())
    if shape == "box":
        x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return []


def moved(frame: FrameAnnotation, index: int, to: Point, height: int, width: int) -> FrameAnnotation:
    """``frame`` with handle ``index`` (of :func:`handles`) moved to ``to``: a polygon keeps
    its other vertices, a box its opposite corner. Hand-made from then on (``MANUAL``)."""
    points = handles(frame)
    if not 0 <= index < len(points):
        raise IndexError(f"no handle {index}")
    x = min(max(to[0], 0.0), float(width))
    y = min(max(to[1], 0.0), float(height))
    if kind(frame) == "polygon":
        points[index] = (x, y)
        return polygon_frame(points, height, width, Provenance.MANUAL)
    opposite = points[(index + 2) % 4]
    return box_frame((opposite[0], opposite[1], x, y), height, width, Provenance.MANUAL)


def moved_handles(frame: FrameAnnotation, index: int, to: Point) -> list[Point]:
    """The handles :func:`moved` would give (a preview while dragging; not clipped)."""
    points = handles(frame)
    if kind(frame) == "polygon":
        points[index] = to
        return points
    ox, oy = points[(index + 2) % 4]
    x0, x1 = sorted((ox, to[0]))
    y0, y1 = sorted((oy, to[1]))
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def edge_at(points: Sequence[Point], x: float, y: float, reach: float) -> tuple[int, Point] | None:
    """The edge of the closed outline ``points`` nearest (x, y) within ``reach`` pixels: the
    index of its first vertex and the nearest point on it; None when none is that near."""
    best: tuple[float, int, Point] | None = None
    for i, (ax, ay) in enumerate(points):
        bx, by = points[(i + 1) % len(points)]
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = 0.0 if length == 0 else min(max(((x - ax) * dx + (y - ay) * dy) / length, 0.0), 1.0)
        px, py = ax + t * dx, ay + t * dy
        distance = math.hypot(x - px, y - py)
        if distance <= reach and (best is None or distance < best[0]):
            best = (distance, i, (px, py))
    return None if best is None else (best[1], best[2])


def with_vertex(frame: FrameAnnotation, after: int, point: Point, height: int, width: int) -> FrameAnnotation:
    """A polygon annotation with ``point`` inserted after vertex ``after``."""
    points = list(frame.polygon or ())
    points.insert(after + 1, point)
    return polygon_frame(points, height, width, Provenance.MANUAL)


def without_vertex(frame: FrameAnnotation, index: int, height: int, width: int) -> FrameAnnotation:
    """A polygon annotation without vertex ``index``; ValueError when 3 vertices are left."""
    points = list(frame.polygon or ())
    if len(points) <= 3:
        raise ValueError("a polygon keeps at least 3 vertices")
    del points[index]
    return polygon_frame(points, height, width, Provenance.MANUAL)
