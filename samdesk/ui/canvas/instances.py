"""Many objects proposed at once on the canvas: each in its own colour, outlined, with its score.

A find-all or segment-everything answer has N instances (``samdesk.session.PendingInstances``).
Their fills are painted into one image (later instances over earlier ones), so a thousand
proposals cost one pixmap rather than a thousand items; each keeps its own dashed outline (within
the overlays' contour budget) and a score label at the top-left of its box that stays the same
size at any zoom. A duplicate of an existing object is drawn grey and labelled "dup"; the
selected instance gets a solid, thicker outline.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsItemGroup,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsSimpleTextItem,
)

from samdesk.session.instances import Crop
from samdesk.ui.canvas.overlays import contour_path, dashed_pen, polygon

DUPLICATE_COLOR = (150, 150, 150)
# Above this many instances their outlines are drawn into the fill image (image pixels, made
# off the GUI thread) rather than as vector paths: stroking a few hundred outlines took the GUI
# thread 80-160 ms on every repaint. The selected one keeps its vector outline.
VECTOR_OUTLINES = 30


def instance_color(index: int) -> tuple[int, int, int]:
    """Distinct, saturated colours for the proposals, in their order (golden-angle hues)."""
    color = QColor.fromHsvF((0.13 + index * 0.618034) % 1.0, 0.8, 1.0)
    return color.red(), color.green(), color.blue()


def paint_instances(crops: Sequence[Crop | None], colors: Sequence[tuple[int, int, int]],
                    outlines: Sequence[Sequence[np.ndarray]] | None = None) -> tuple[
    np.ndarray, tuple[int, int] | None
]:
    """One premultiplied ARGB32 (h, w) uint32 image of every mask (given as its bounding-box
    crop and origin) in its colour, later ones over earlier ones, cropped to their union, and
    its top-left (x, y) in the image; (empty, None) when all are empty. ``outlines[i]`` (each
    contour (n, 2) x, y at pixel centres): drawn over the fills, one pixel wide, in a lighter
    shade of the instance's colour."""
    present = [c for c in crops if c is not None]
    if not present:
        return np.zeros((0, 0), np.uint32), None
    x0 = min(ox for _, (ox, _) in present)
    y0 = min(oy for _, (_, oy) in present)
    x1 = max(ox + crop.shape[1] for crop, (ox, _) in present)
    y1 = max(oy + crop.shape[0] for crop, (_, oy) in present)
    argb = np.zeros((y1 - y0, x1 - x0), dtype=np.uint32)
    colour = np.empty_like(argb)  # each instance's colour over its box, copied through its mask
    for item, (r, g, b) in zip(crops, colors, strict=True):
        if item is None:
            continue
        crop, (ox, oy) = item
        h, w = crop.shape
        rows, cols = slice(oy - y0, oy - y0 + h), slice(ox - x0, ox - x0 + w)
        source = colour[rows, cols]
        source.fill((0xFF << 24) | (r << 16) | (g << 8) | b)
        # OpenCV's masked copy, in place: ~10x numpy's boolean indexing on speckled masks
        # (hundreds of SAM 3 answers must not hold the GUI thread).
        cv2.copyTo(_bytes(source), np.ascontiguousarray(crop).view(np.uint8), _bytes(argb[rows, cols]))
    if outlines is not None:
        pixels = _bytes(argb)
        for contours, (r, g, b) in zip(outlines, colors, strict=True):
            light = QColor(r, g, b).lighter(135)
            points = [np.round(c - (x0 + 0.5, y0 + 0.5)).astype(np.int32).reshape(-1, 1, 2) for c in contours]
            if points:  # bytes are B, G, R, A
                cv2.polylines(pixels, points, True, (light.blue(), light.green(), light.red(), 255), 1)
    return argb, (x0, y0)


def _bytes(pixels: np.ndarray) -> np.ndarray:
    """A uint32 (h, w) view (rows may be strided) as uint8 (h, w, 4), the same memory."""
    view = pixels.view(np.uint8).reshape(pixels.shape[0], pixels.shape[1], 4)
    assert np.shares_memory(view, pixels)
    return view


def instance_colors(color_indices: Sequence[int], duplicates: Sequence[bool]) -> list[tuple[int, int, int]]:
    """Each instance's colour: :func:`instance_color` of its index, grey for a duplicate."""
    pairs = zip(color_indices, duplicates, strict=True)
    return [DUPLICATE_COLOR if dup else instance_color(i) for i, dup in pairs]


def fill_image(crops: Sequence[Crop | None], colors: Sequence[tuple[int, int, int]],
               cache: dict | None = None, outlines: Sequence[list[np.ndarray]] | None = None
               ) -> tuple[QImage, tuple[int, int]] | None:
    """:func:`paint_instances` as a QImage and its top-left, None when every mask is empty.
    ``cache`` (a dict kept with the proposal) keeps the last one made for the same masks,
    outlines and colours: a selection or a label changes nothing of the fill. Safe off the GUI
    thread (QImage is reentrant), which is where a proposal's first fill is made."""
    # The masks and outlines themselves are held: their identity stays meaningful.
    drawn = tuple(None if c is None else c[0] for c in crops) + tuple(outlines or ())
    if cache is not None:
        made = cache.get("fill")
        if made is not None and made[1] == tuple(colors) and len(made[0]) == len(drawn) and all(
            a is b for a, b in zip(made[0], drawn, strict=True)
        ):
            return made[2]
    argb, origin = paint_instances(crops, colors, outlines)
    image = None
    if origin is not None:
        h, w = argb.shape
        image = QImage(argb.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy(), origin
    if cache is not None:
        cache["fill"] = (drawn, tuple(colors), image)
    return image


def outline_path(outline: list[np.ndarray], cache: dict | None = None) -> QPainterPath:
    """:func:`path_of` an instance's outline, kept in ``cache`` while that outline is the same
    list (a refined instance gets a new one). Safe off the GUI thread (QPainterPath is reentrant)."""
    if cache is None:
        return path_of(outline)
    paths = cache.setdefault("paths", {})
    made = paths.get(id(outline))
    if made is None or made[0] is not outline:
        made = paths[id(outline)] = (outline, path_of(outline))
    return made[1]


def prepare_drawing(crops: Sequence[Crop | None], colors: Sequence[tuple[int, int, int]],
                    outlines: Sequence[list[np.ndarray]], cache: dict) -> None:
    """Make ahead (on a worker thread) the fill and outline paths that :meth:`InstancesItem.show`
    will take from ``cache`` (the outlines drawn into the fill above :data:`VECTOR_OUTLINES`)."""
    if len(crops) > VECTOR_OUTLINES:
        fill_image(crops, colors, cache, outlines)
        return
    fill_image(crops, colors, cache)
    for outline in outlines:
        outline_path(outline, cache)


def path_of(contours: Sequence[np.ndarray]) -> QPainterPath:
    """Closed polygons (each (n, 2) x, y) as one path."""
    path = QPainterPath()
    for contour in contours:
        path.addPolygon(polygon(contour))
        path.closeSubpath()
    return path


class InstancesItem(QGraphicsItemGroup):
    """The proposed instances of one image: ``show(masks, scores)``, ``clear()``."""

    def __init__(self, z: float = 600) -> None:
        super().__init__()
        self.setZValue(z)
        self.setHandlesChildEvents(False)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._fill = QGraphicsPixmapItem()
        self.addToGroup(self._fill)
        self._parts: list[QGraphicsItem] = []
        self.colors: list[tuple[int, int, int]] = []
        self.duplicates: list[bool] = []
        self.labels: list[QGraphicsSimpleTextItem] = []

    def show(
        self,
        crops: Sequence[Crop | None],
        scores: Sequence[float],
        opacity: float,
        color_indices: Sequence[int] | None = None,
        duplicates: Sequence[bool] | None = None,
        selected: int | None = None,
        outlines: Sequence[list[np.ndarray]] | None = None,
        cache: dict | None = None,
    ) -> None:
        """Draw the instances (each mask as its bounding-box crop and origin, None when empty)
        with their ``scores``, instance i in :func:`instance_color` (``color_indices[i]``,
        default i); ``duplicates[i]``: drawn grey as a duplicate; ``selected``: the one outlined
        solid; ``outlines[i]``: its contours as (n, 2) x, y arrays (default: traced here);
        ``cache``: the fill and paths made before for these (:func:`prepare_drawing`)."""
        self.clear()
        indices = range(len(crops)) if color_indices is None else color_indices
        self.duplicates = [False] * len(crops) if duplicates is None else list(duplicates)
        self.colors = instance_colors(indices, self.duplicates)
        raster = outlines is not None and len(crops) > VECTOR_OUTLINES  # outlines in the fill
        fill = fill_image(crops, self.colors, cache, outlines if raster else None)
        if fill is None:
            return
        image, origin = fill
        self._fill.setPixmap(QPixmap.fromImage(image))
        self._fill.setOffset(float(origin[0]), float(origin[1]))
        self._fill.setOpacity(opacity)
        font = QFont()
        font.setBold(True)
        for index, (item, score, color) in enumerate(zip(crops, scores, self.colors, strict=True)):
            if item is None:
                continue
            crop, (x0, y0) = item
            # Children made with their parent: addToGroup() maps each one's transform (a
            # quarter of the time of showing hundreds of instances).
            if not raster or index == selected:
                traced = outlines is None
                path = contour_path(crop, (x0, y0)) if traced else outline_path(outlines[index], cache)
                outline = QGraphicsPathItem(path, self)
                if index == selected:
                    pen = QPen(QColor(255, 255, 255))
                    pen.setCosmetic(True)
                    pen.setWidthF(3.0)
                    outline.setPen(pen)
                else:
                    outline.setPen(dashed_pen(QColor(*color).lighter(135)))
                self._parts.append(outline)
            text = f"dup {float(score):.2f}" if self.duplicates[index] else f"{float(score):.2f}"
            label = QGraphicsSimpleTextItem(self)
            label.setFont(font)  # before the text: one layout, not two
            label.setText(text)
            label.setBrush(QBrush(QColor(*color)))
            if not raster:  # a black edge: stroking glyphs is slow, so not for hundreds
                label.setPen(QColor(0, 0, 0))
            label.setPos(QPointF(x0, y0))
            label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            self._parts.append(label)
            self.labels.append(label)

    def clear(self) -> None:
        self._fill.setPixmap(QPixmap())
        scene = self.scene()
        for part in self._parts:
            if scene is not None:
                scene.removeItem(part)  # and from this group
            else:
                part.setParentItem(None)
        self._parts.clear()
        self.labels.clear()
        self.colors = []

    def set_opacity(self, opacity: float) -> None:
        self._fill.setOpacity(opacity)
