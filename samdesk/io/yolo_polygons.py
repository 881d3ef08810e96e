"""One YOLO-seg outline per object, and masks drawn from outlines the way Ultralytics draws them.

Ultralytics makes a training mask from a label line by scaling the normalised points to pixels,
truncating them to integers and filling the polygon with OpenCV's ``fillPoly`` (its
``polygon2mask``): a point (x, y) is the centre of pixel (x, y), the outline's own pixels are
filled, and the fill is even-odd, so a ring walked inside another cuts a hole. Its dataset reader
first resamples every outline of an image to one point count (``resample_segments``: at least
1000, the original points kept). A line holds one polygon, so an object becomes one outline:

* **specks**: parts (8-connected) under ``min_part_area`` pixels are left out unless they are the
  object's largest part, and holes (4-connected) under it are filled; both are counted;
* **parts and holes**: the contour of every kept part and hole (through its boundary pixels'
  centres, simplified with Douglas-Peucker) is joined into one closed walk by the shortest
  vertex-to-vertex links of a spanning tree (minimum over each ring's nearest neighbours), each
  link walked there and back, as
  Ultralytics' own ``merge_multi_segment`` joins the parts of COCO objects (there in a chain).
  A link through the object costs nothing; one across background draws a one-pixel line there;
* **points**: pixel (x, y) is written as ((x + 0.25) / W, (y + 0.25) / H) with six decimals, which
  truncating readers (Ultralytics) and rounding readers (supervision) both read back as (x, y).

:func:`read_back_iou` measures what Ultralytics' reader gets (resampling included) against the
mask, so an export can list the objects it cannot hold closely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from samdesk.document.masks import Rle
from samdesk.io.polygons import AUTO_TOLERANCES, TARGET_IOU
from samdesk.io.runs import decode_crop

DEFAULT_MIN_PART_AREA = 16  # pixels: a 4×4 speck; model masks are sprinkled with 1-10 px islands
POINT_OFFSET = 0.25  # where inside its pixel a vertex is written (see the module docstring)
DECIMALS = 6
# Ultralytics' reader resamples each outline of an image to max(RESAMPLE_POINTS, longest + 1) points.
RESAMPLE_POINTS = 1000
_MARGIN = 1  # background around a crop, so contours and holes are found as in the full image


@dataclass
class Outline:
    """An object's one YOLO outline and what making it changed.

    ``points``: int64 (N, 2) pixel coordinates (x, y), N >= 3, not closed (the last point does
    not repeat the first); ``parts``/``holes``: how many the outline joins; ``islands_left_out`` /
    ``holes_filled``: specks under the minimum area.
    """

    points: np.ndarray
    parts: int
    holes: int
    islands_left_out: int
    holes_filled: int


def mask_outline(rle: Rle, min_part_area: int, tolerance: float | None) -> Outline | None:
    """An object's mask (COCO RLE) -> its outline, or None for an empty mask.

    ``tolerance``: Douglas-Peucker tolerance in pixels, or None for the coarsest of
    :data:`AUTO_TOLERANCES` whose joined outline, filled as Ultralytics fills it, reaches
    :data:`TARGET_IOU` against the mask without its specks (where links across the background
    keep every tolerance below it, the closest one). Work happens in the object's box.
    """
    crop, x0, y0 = decode_crop(rle, _MARGIN)
    if not crop.any():
        return None
    kept, islands, filled = without_specks(crop, min_part_area)
    contours, hierarchy = cv2.findContours(kept.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    rings = [c[:, 0, :].astype(np.int64) for c in contours]
    holes = int((hierarchy[0, :, 3] >= 0).sum())
    # The root of the joining tree: the longest outline (the main part's, never a hole's).
    order = sorted(range(len(rings)), key=lambda i: (hierarchy[0, i, 3] >= 0, -len(rings[i])))
    rings = [rings[i] for i in order]
    best: tuple[float, np.ndarray] | None = None
    for step in AUTO_TOLERANCES if tolerance is None else (tolerance,):
        joined = _without_repeats(join_rings([_simplify(ring, step) for ring in rings]))
        iou = _iou(fill([joined], kept.shape), kept)
        if best is None or iou > best[0]:
            best = (iou, joined)
        if iou >= TARGET_IOU:
            break
    assert best is not None
    points = best[1] + np.array([x0, y0])
    if len(points) < 3:  # one or two pixels: a line needs three points, so repeat the last
        points = np.concatenate([points, np.repeat(points[-1:], 3 - len(points), axis=0)])
    return Outline(points, len(rings) - holes, holes, islands, filled)


def without_specks(crop: np.ndarray, min_area: int) -> tuple[np.ndarray, int, int]:
    """bool (h, w) crop with a background margin -> (crop without specks, islands left out,
    holes filled). The largest part always stays, however small."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(crop.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = areas >= min_area
    keep[int(np.argmax(areas))] = True
    islands = int(np.count_nonzero(~keep))
    kept = np.isin(labels, 1 + np.flatnonzero(keep)) if islands else crop.astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~kept).astype(np.uint8), connectivity=4)
    outside = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    small = [
        label
        for label in range(1, count)
        if stats[label, cv2.CC_STAT_AREA] < min_area and label not in outside
    ]
    if small:
        kept = kept | np.isin(labels, small)
    return kept, islands, len(small)


def _simplify(ring: np.ndarray, tolerance: float) -> np.ndarray:
    if tolerance <= 0 or len(ring) < 4:
        return ring
    simple = cv2.approxPolyDP(ring.reshape(-1, 1, 2).astype(np.int32), tolerance, True)
    return simple[:, 0, :].astype(np.int64)


def fill(rings: list[np.ndarray], shape: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Integer (N, 2) rings filled together as Ultralytics fills an outline (``fillPoly``,
    even-odd, the outline's pixels included) -> bool ``shape``; ``offset`` is subtracted first."""
    canvas = np.zeros(shape, np.uint8)
    shifted = [(np.asarray(r, np.int64) - np.array(offset)).astype(np.int32).reshape(-1, 1, 2) for r in rings]
    cv2.fillPoly(canvas, shifted, 1)
    return canvas.astype(bool)


def join_rings(rings: list[np.ndarray]) -> np.ndarray:
    """Closed rings (each (N_i, 2), the first being the root) -> one closed walk (M, 2) through
    all of them. Rings are linked along a spanning tree (:func:`spanning_tree`) whose edge
    between two rings is their closest pair of vertices; the walk goes round each ring from
    where it was entered, takes each link to a child ring there and back, and ends where it
    began (not repeated)."""
    if len(rings) == 1:
        return rings[0]
    children = spanning_tree(rings)
    out: list[np.ndarray] = []
    # An explicit stack (a deep tree needs no recursion) of ("walk", ring, entry vertex, step)
    # and ("point", ring, vertex): go one step round a ring, or come back to a vertex.
    stack: list[tuple[str, int, int, int]] = [("walk", 0, 0, 0)]
    while stack:
        kind, ring, vertex, step = stack.pop()
        if kind == "point":
            out.append(rings[ring][vertex : vertex + 1])
            continue
        length = len(rings[ring])
        here = (vertex + step) % length
        out.append(rings[ring][here : here + 1])
        if step == length:
            continue  # back where this ring was entered
        stack.append(("walk", ring, vertex, step + 1))
        for child, child_vertex in reversed(children.get((ring, here), [])):
            stack.append(("point", ring, here, 0))  # after the child's round trip, come back here
            stack.append(("walk", child, child_vertex, 0))
    walk = np.concatenate(out)
    return walk[:-1]  # the walk ends where it began


def spanning_tree(rings: list[np.ndarray]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """A minimum spanning tree of the rings, rooted at ring 0:
    {(parent ring, its vertex): [(child ring, its vertex)]}.

    The length of a link is the distance of the two rings' closest vertices. Links are looked for
    between each ring and its :data:`_NEIGHBOURS` nearest rings by bounding box (all pairs when
    there are few rings, so the tree is exact there), more when that leaves the rings apart:
    a mask of a thousand parts costs some thousands of ring distances, not a million.
    """
    count = len(rings)
    boxes = np.array([[*r.min(axis=0), *r.max(axis=0)] for r in rings], np.float64)  # x0 y0 x1 y1
    links: dict[tuple[int, int], tuple[float, int, int]] = {}  # (i, j), i < j -> (d², vertex i, vertex j)
    wanted = _NEIGHBOURS
    while True:
        for i, near in _nearest_boxes(boxes, min(wanted, count - 1)):
            for j in near:
                a, b = (i, int(j)) if i < j else (int(j), i)
                if (a, b) not in links:
                    links[(a, b)] = closest_vertices(rings[a], rings[b])
        tree = _kruskal(count, links)
        if len(tree) == count - 1 or wanted >= count - 1:
            break
        wanted *= 4
    adjacent: dict[int, list[tuple[int, int, int]]] = {}
    for (a, b), (_d, va, vb) in tree:
        adjacent.setdefault(a, []).append((b, va, vb))
        adjacent.setdefault(b, []).append((a, vb, va))
    children: dict[tuple[int, int], list[tuple[int, int]]] = {}
    seen, queue = {0}, [0]
    while queue:
        ring = queue.pop()
        for other, vertex, other_vertex in adjacent.get(ring, []):
            if other not in seen:
                seen.add(other)
                children.setdefault((ring, vertex), []).append((other, other_vertex))
                queue.append(other)
    return children


_NEIGHBOURS = 8


def _nearest_boxes(boxes: np.ndarray, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """For each box, the ``count`` other boxes with the smallest gap to it (chunked: little memory)."""
    for start in range(0, len(boxes), 256):
        rows = boxes[start : start + 256]
        gaps = np.zeros((len(rows), len(boxes)))
        for low, high in ((0, 2), (1, 3)):  # x, then y
            ahead = boxes[None, :, low] - rows[:, None, high]
            behind = rows[:, None, low] - boxes[None, :, high]
            gaps += np.maximum(0, np.maximum(ahead, behind)) ** 2
        gaps[np.arange(len(rows)), np.arange(start, start + len(rows))] = np.inf  # not itself
        nearest = np.argpartition(gaps, count - 1, axis=1)[:, :count] if count < len(boxes) - 1 else None
        for offset in range(len(rows)):
            i = start + offset
            yield i, (nearest[offset] if nearest is not None else np.delete(np.arange(len(boxes)), i))


def _kruskal(
    count: int, links: dict[tuple[int, int], tuple[float, int, int]]
) -> list[tuple[tuple[int, int], tuple[float, int, int]]]:
    """The shortest links that join ``count`` rings without a cycle (a spanning forest)."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = []
    for pair, link in sorted(links.items(), key=lambda item: item[1][0]):
        a, b = root(pair[0]), root(pair[1])
        if a != b:
            parent[a] = b
            tree.append((pair, link))
    return tree


def closest_vertices(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """(squared distance, index in a, index in b) of the closest pair of vertices; chunked so a
    long outline against another needs little memory."""
    best = (np.inf, 0, 0)
    bf = b.astype(np.float64)
    for start in range(0, len(a), 512):
        chunk = a[start : start + 512].astype(np.float64)
        d = ((chunk[:, None, :] - bf[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < best[0]:
            best = (float(d[i, j]), start + int(i), int(j))
    return best


def _without_repeats(points: np.ndarray) -> np.ndarray:
    keep = np.ones(len(points), bool)
    keep[1:] = (np.diff(points, axis=0) != 0).any(axis=1)
    return points[keep]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


# --- the label line, and what Ultralytics' reader makes of it ---------------------------------


def label_values(points: np.ndarray, width: int, height: int) -> list[str]:
    """Outline pixels (N, 2) -> the normalised numbers of its label line, as written."""
    normalised = (points + POINT_OFFSET) / np.array([width, height], np.float64)
    return [f"{v:.{DECIMALS}f}" for v in normalised.ravel()]


def resample_count(point_counts: list[int]) -> int:
    """How many points Ultralytics' reader resamples each outline of an image to."""
    longest = max(point_counts, default=0)
    return longest + 1 if longest > RESAMPLE_POINTS else RESAMPLE_POINTS


def as_read(values: list[str], width: int, height: int, count: int) -> np.ndarray:
    """A label line's numbers -> int32 (count, 2): the pixel outline Ultralytics' reader fills
    (float32 parse, resampling to ``count`` points, scaling, truncation)."""
    outline = _resample(np.array(values, dtype=np.float32).reshape(-1, 2), count)
    return (outline * np.array([width, height], np.float32)).astype(np.int32)


def _resample(outline: np.ndarray, count: int) -> np.ndarray:
    """Linear resampling of a closed outline to ``count`` points, keeping the original points
    when there are fewer (``resample_segments``)."""
    if len(outline) == count:
        return outline
    closed = np.concatenate([outline, outline[:1]])
    original = np.arange(len(closed))
    if len(closed) < count:
        steps = np.linspace(0, len(closed) - 1, count - len(closed))
        steps = np.insert(steps, np.searchsorted(steps, original), original)
    else:
        steps = np.linspace(0, len(closed) - 1, count)
    return np.stack([np.interp(steps, original, closed[:, i]) for i in range(2)], axis=1).astype(np.float32)


def read_back_iou(rle: Rle, outline: np.ndarray, width: int, height: int) -> float:
    """IoU of the mask ``rle`` against int (K, 2) ``outline`` filled as Ultralytics fills it,
    computed in the box around both."""
    crop, x0, y0 = decode_crop(rle, 0)
    xs, ys = outline[:, 0], outline[:, 1]
    left, top = max(min(x0, int(xs.min())), 0), max(min(y0, int(ys.min())), 0)
    right = min(max(x0 + crop.shape[1], int(xs.max()) + 1), width)
    bottom = min(max(y0 + crop.shape[0], int(ys.max()) + 1), height)
    drawn = fill([outline], (bottom - top, right - left), offset=(left, top))
    mask = np.zeros_like(drawn)
    mask[y0 - top : y0 - top + crop.shape[0], x0 - left : x0 - left + crop.shape[1]] = crop
    return _iou(drawn, mask)
