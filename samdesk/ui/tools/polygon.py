"""Polygon: click vertices; double-click, Enter or a click on the first vertex closes it.

A closed polygon is added to the pending/selected mask (Shift when closing: cut out of it), or,
when nothing is selected, becomes a new polygon annotation that keeps its vertices (Enter accepts
it; Select drags its vertices, ``samdesk/session/shape_edits.py``). Backspace removes the last
vertex.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from samdesk.ui.tools.base import Tool, ToolEvent

CLOSE_DISTANCE_PX = 8.0  # on screen


class PolygonTool(Tool):
    name = "polygon"
    label = "Polygon"
    shortcut = "G"
    help = "Click vertices · double-click/Enter closes · Shift closes as a cut · Backspace undoes a vertex"
    order = 60

    def __init__(self, host) -> None:
        super().__init__(host)
        self.points: list[tuple[float, float]] = []
        self._hover: tuple[float, float] | None = None
        self._path: QGraphicsPathItem | None = None

    def deactivate(self) -> None:
        self.points.clear()
        self._redraw()

    def press(self, event: ToolEvent) -> None:
        if event.button != Qt.MouseButton.LeftButton:
            return
        if len(self.points) >= 3:
            fx, fy = self.points[0]
            if max(abs(fx - event.x), abs(fy - event.y)) * event.view_scale <= CLOSE_DISTANCE_PX:
                self.close(event.shift)
                return
        self.points.append((event.x, event.y))
        self._redraw()

    def move(self, event: ToolEvent, pressed: bool) -> None:
        self._hover = (event.x, event.y)
        if self.points:
            self._redraw()

    def double_click(self, event: ToolEvent) -> None:
        self.close(event.shift)

    def close(self, subtract: bool = False) -> None:
        points = list(self.points)
        self.points.clear()
        self._redraw()
        if len(points) >= 3:
            self.controller.add_polygon(points, subtract)

    def key(self, key: int) -> bool:
        if not self.points:
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close()
            return True
        if key == Qt.Key.Key_Escape:
            self.points.clear()
            self._redraw()
            return True
        if key == Qt.Key.Key_Backspace:
            self.points.pop()
            self._redraw()
            return True
        return False

    def _redraw(self) -> None:
        if not self.points:
            if self._path is not None:
                self.host.scene.removeItem(self._path)
                self._path = None
            return
        if self._path is None:
            self._path = QGraphicsPathItem()
            pen = QPen(QColor(255, 210, 0))
            pen.setCosmetic(True)
            pen.setWidthF(2.0)
            self._path.setPen(pen)
            self._path.setZValue(1001)
            self.host.scene.addItem(self._path)
        path = QPainterPath(QPointF(*self.points[0]))
        for p in self.points[1:]:
            path.lineTo(QPointF(*p))
        if self._hover is not None:
            path.lineTo(QPointF(*self._hover))
        self._path.setPath(path)
