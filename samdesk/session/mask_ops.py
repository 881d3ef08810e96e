"""Manual mask edits on numpy bool masks: brush strokes, polygons, hole filling, island removal.

Qt-free so the controller and its tests can use them without widgets. All masks are bool (H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def stamp_segment(
    mask: np.ndarray, start: tuple[float, float], end: tuple[float, float], radius: float, value: bool
) -> None:
    """Paint (value=True) or erase a round brush swept from ``start`` to ``end`` (x, y), in place."""
    canvas = np.zeros(mask.shape, dtype=np.uint8)
    r = max(1, int(round(radius)))
    p0 = (int(round(start[0])), int(round(start[1])))
    p1 = (int(round(end[0])), int(round(end[1])))
    # A thick line with round caps is exactly a swept disc, and cv2 does it in C.
    cv2.line(canvas, p0, p1, 1, thickness=2 * r, lineType=cv2.LINE_8)
    cv2.circle(canvas, p0, r, 1, thickness=-1)
    cv2.circle(canvas, p1, r, 1, thickness=-1)
    mask[canvas.astype(bool)] = value


def polygon_mask(shape: tuple[int, int], points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Rasterise a closed polygon given as (x, y) vertices into a bool (H, W) mask."""
    out = np.zeros(shape, dtype=np.uint8)
    if len(points) >= 3:
        pts = np.round(np.asarray(points, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(out, [pts], 1)
    return out.astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    background = (~mask).astype(np.uint8)
    count, labels = cv2.connectedComponents(background, connectivity=4)
    if count <= 1:
        return mask.copy()
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border[border > 0])
    return ~outside


def remove_small_islands(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop connected foreground components smaller than ``min_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) exclusive bounds of the foreground, or None for an empty mask."""
    if not mask.any():
        return None
    # cv2 scans the bytes in C; a bool array is viewed as uint8 without a copy.
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    return int(x), int(y), int(x + w), int(y + h)


def bounding_box_near(mask: np.ndarray, hint: Sequence[float]) -> tuple[int, int, int, int] | None:
    """:func:`bounding_box`, searched first inside ``hint`` (x0, y0, x1, y1, e.g. the box a model
    predicted with the mask) grown by a margin: exact whenever the mask has no pixel outside
    that region (checked by counting, which is far cheaper than scanning for the bounds), else
    the full search."""
    height, width = mask.shape
    x0, y0, x1, y1 = (float(v) for v in hint)
    margin = 2 + 0.1 * max(x1 - x0, y1 - y0, 0.0)
    left, top = max(0, int(x0 - margin)), max(0, int(y0 - margin))
    right, bottom = min(width, int(x1 + margin) + 1), min(height, int(y1 + margin) + 1)
    if right <= left or bottom <= top:
        return bounding_box(mask)
    region = np.ascontiguousarray(mask[top:bottom, left:right]).view(np.uint8)
    inside = cv2.countNonZero(region)
    if inside == 0 or inside != cv2.countNonZero(np.ascontiguousarray(mask).view(np.uint8)):
        return bounding_box(mask)
    x, y, w, h = cv2.boundingRect(region)
    return left + int(x), top + int(y), left + int(x + w), top + int(y + h)


def outline_points(
    mask: np.ndarray, origin: tuple[int, int], max_contours: int, max_points: int
) -> list[np.ndarray]:
    """The outer and hole contours of a bool (h, w) mask at ``origin`` (x0, y0) as float64
    (n, 2) x, y arrays in image coordinates (pixel centres), simplified to within one pixel,
    longest first, at most ``max_contours`` of them and ``max_points`` points in all: enough to
    draw an outline, cheap to turn into a path."""
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_CCOMP,
                                   cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted((c for c in contours if len(c) >= 2), key=len, reverse=True)[:max_contours]
    ox, oy = origin
    kept: list[np.ndarray] = []
    points = 0
    for contour in contours:
        simple = cv2.approxPolyDP(contour, 1.0, True) if len(contour) > 8 else contour
        points += len(simple)
        if points > max_points:
            break
        kept.append(simple.reshape(-1, 2).astype(np.float64) + (ox + 0.5, oy + 0.5))
    return kept
