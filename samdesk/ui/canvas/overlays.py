"""Scene items drawn over the image: coloured masks with contours, prompt markers, tool previews.

The one place where numpy masks become Qt images. A mask is cropped to its bounding box before
conversion, so repainting one small object after a click costs little even on large photos.
"""

from __future__ import annotations

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsItemGroup,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
)

from samdesk.session import mask_ops


def mask_to_image(mask: np.ndarray, color: tuple[int, int, int]) -> QImage:
    """bool (h, w) -> premultiplied ARGB32 QImage, opaque ``color`` where the mask is set.

    Transparency is applied by the item's opacity, so changing opacity never re-converts. The
    mask's bytes are read as an 8-bit indexed image with a two-colour table, which Qt expands
    in C (about a tenth of the time of building the 32-bit pixels in numpy: it matters when
    segment everything adds a thousand objects at once).
    """
    h, w = mask.shape
    indices = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    image = QImage(indices.data, w, h, w, QImage.Format.Format_Indexed8)
    r, g, b = color
    image.setColorTable([0, (0xFF << 24) | (r << 16) | (g << 8) | b])
    # A converted image owns its pixels: detached from the numpy buffer, which dies with this function.
    return image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


# Outline budget per mask. Building a Qt path costs ~40 µs per contour from Python: a speckled
# mask (thousands of one-pixel islands, as random or badly prompted models give) would stall the
# GUI thread for a second. The fill still shows every pixel; only the largest outlines are drawn.
MAX_OUTLINE_CONTOURS = 100
MAX_OUTLINE_POINTS = 12_000


def contour_path(mask: np.ndarray, offset: tuple[int, int]) -> QPainterPath:
    """Outer and hole contours of a bool mask as one path, in image coordinates (the longest
    ones, within :data:`MAX_OUTLINE_CONTOURS` / :data:`MAX_OUTLINE_POINTS`)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if len(c) >= 2]
    if len(contours) > MAX_OUTLINE_CONTOURS:
        contours = sorted(contours, key=len, reverse=True)[:MAX_OUTLINE_CONTOURS]
    path = QPainterPath()
    ox, oy = offset
    points = 0
    for contour in contours:
        points += len(contour)
        if points > MAX_OUTLINE_POINTS:
            break
        # One addPolygon per contour instead of a lineTo per vertex: far fewer Qt calls (each
        # costs a Python->C++ round trip; see qt_compat.py for why call counts matter on 6.12).
        path.addPolygon(polygon(contour.reshape(-1, 2) + (ox + 0.5, oy + 0.5)))
        path.closeSubpath()
    return path


def polygon(points: np.ndarray) -> QPolygonF:
    """(N, 2) x, y -> QPolygonF, copied into the polygon's own array in one go (a QPointF per
    vertex built from Python cost most of drawing a thousand new objects' outlines)."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    result = QPolygonF()
    result.resize(len(points))
    if len(points):
        address = shiboken6.getCppPointer(result.data())[0]
        target = shiboken6.VoidPtr(address, points.nbytes, True)
        np.frombuffer(target, dtype=np.float64).reshape(points.shape)[:] = points
    return result


HANDLE_PX = 8.0  # a shape handle's side on screen


class MaskItem(QGraphicsItemGroup):
    """One object's mask: a translucent fill and a crisp (cosmetic) contour on top."""

    def __init__(self, z: float) -> None:
        super().__init__()
        self.setZValue(z)
        self.setHandlesChildEvents(False)
        self._fill = QGraphicsPixmapItem()
        self._fill.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._outline = QGraphicsPathItem()
        self.addToGroup(self._fill)
        self.addToGroup(self._outline)
        self._shape = QGraphicsPathItem()  # a box or polygon annotation's own outline
        self.addToGroup(self._shape)
        self.handles: list[QGraphicsRectItem] = []  # its corners or vertices, when selected
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.has_mask = False
        self.color: tuple[int, int, int] | None = None  # of the fill, as last painted

    def set_mask(
        self,
        mask: np.ndarray | None,
        color: tuple[int, int, int],
        opacity: float,
        selected: bool = False,
        dashed: bool = False,
    ) -> None:
        bounds = None if mask is None else mask_ops.bounding_box(mask)
        if bounds is None:
            self.set_crop(None, (0, 0), color, opacity, selected, dashed)
            return
        x0, y0, x1, y1 = bounds
        self.set_crop(mask[y0:y1, x0:x1], (x0, y0), color, opacity, selected, dashed)

    def set_crop(
        self,
        crop: np.ndarray | None,
        offset: tuple[int, int],
        color: tuple[int, int, int],
        opacity: float,
        selected: bool = False,
        dashed: bool = False,
    ) -> None:
        """Like :meth:`set_mask` for a mask already cropped to its bounding box (bool (h, w)
        whose top-left pixel is ``offset`` (x0, y0) of the image), or None for no mask."""
        if crop is None:
            self._fill.setPixmap(QPixmap())
            self._outline.setPath(QPainterPath())
            self.has_mask = False
            return
        x0, y0 = offset
        self.color = color
        self._fill.setPixmap(QPixmap.fromImage(mask_to_image(crop, color)))
        self._fill.setOffset(float(x0), float(y0))
        self._outline.setPath(contour_path(crop, (x0, y0)))
        self.has_mask = True
        self.set_style(color, opacity, selected, dashed)

    def set_shape(
        self, points: list[tuple[float, float]], color: tuple[int, int, int], selected: bool
    ) -> None:
        """Outline a box or polygon annotation through ``points`` (none: a mask), with a handle
        on each point while ``selected``; handles keep their size on screen at any zoom."""
        path = QPainterPath()
        if points:
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
            path.closeSubpath()
        self._shape.setPath(path)
        pen = QPen(QColor(255, 255, 255) if selected else QColor(*color))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        self._shape.setPen(pen)
        for handle in self.handles:
            self.removeFromGroup(handle)
            if handle.scene() is not None:
                handle.scene().removeItem(handle)
        self.handles = []
        if not selected:
            return
        for x, y in points:
            handle = QGraphicsRectItem(-HANDLE_PX / 2, -HANDLE_PX / 2, HANDLE_PX, HANDLE_PX)
            handle.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            handle.setPen(QPen(QColor(0, 0, 0)))
            handle.setBrush(QColor(255, 255, 255))
            handle.setPos(x, y)
            self.addToGroup(handle)
            self.handles.append(handle)

    def set_style(
        self, color: tuple[int, int, int], opacity: float, selected: bool, dashed: bool = False
    ) -> None:
        self._fill.setOpacity(opacity)
        pen = QPen(QColor(255, 255, 255) if selected else QColor(*color).lighter(135))
        pen.setCosmetic(True)  # constant width on screen at any zoom
        pen.setWidthF(2.5 if selected else 1.5)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        self._outline.setPen(pen)


class PromptMarker(QGraphicsItem):
    """A click prompt: green disc with + (foreground) or red disc with − (background).

    Ignores the view's zoom so markers stay the same size on screen.
    """

    RADIUS = 7.0

    def __init__(self, x: float, y: float, positive: bool) -> None:
        super().__init__()
        self.positive = positive
        self.setPos(QPointF(x, y))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(1000)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        r = self.RADIUS + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: object, widget: object = None) -> None:
        r = self.RADIUS
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(40, 190, 70) if self.positive else QColor(220, 50, 50)
        painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        painter.setBrush(QBrush(fill))
        painter.drawEllipse(QPointF(0, 0), r, r)
        painter.setPen(QPen(QColor(255, 255, 255), 2.0))
        painter.drawLine(QPointF(-r / 2, 0), QPointF(r / 2, 0))
        if self.positive:
            painter.drawLine(QPointF(0, -r / 2), QPointF(0, r / 2))


def dashed_pen(color: QColor, width: float = 1.5) -> QPen:
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidthF(width)
    pen.setStyle(Qt.PenStyle.DashLine)
    return pen
