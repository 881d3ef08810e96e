"""The dashed outline a tool shows while the user drags: a box being drawn, or a shape as a
dragged handle will leave it. Created on the first drag event, removed when the drag ends."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainterPath, QPolygonF
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

from samdesk.ui.canvas.overlays import dashed_pen

DRAG_COLOR = QColor(255, 210, 0)
ABOVE_EVERYTHING = 1001  # z value over the canvas's layers


class DragOutline:
    """One dashed outline on ``scene`` (at most one per tool)."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self._item: QGraphicsPathItem | None = None

    @property
    def bounds(self) -> QRectF | None:
        """The outline's bounding rectangle in image pixels; None when none is shown."""
        return None if self._item is None else self._item.path().boundingRect()

    def box(self, x0: float, y0: float, x1: float, y1: float, color: QColor = DRAG_COLOR) -> None:
        """Show the box with corners (x0, y0) and (x1, y1), in any order."""
        path = QPainterPath()
        path.addRect(QRectF(x0, y0, x1 - x0, y1 - y0).normalized())
        self._show(path, color)

    def polygon(self, points: Sequence[tuple[float, float]], color: QColor = DRAG_COLOR) -> None:
        """Show the closed polygon through ``points``."""
        path = QPainterPath()
        path.addPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        path.closeSubpath()
        self._show(path, color)

    def clear(self) -> None:
        if self._item is not None:
            self._scene.removeItem(self._item)
            self._item = None

    def _show(self, path: QPainterPath, color: QColor) -> None:
        if self._item is None:
            self._item = QGraphicsPathItem()
            self._item.setZValue(ABOVE_EVERYTHING)
            self._scene.addItem(self._item)
        self._item.setPen(dashed_pen(color, 2.0))
        self._item.setPath(path)
